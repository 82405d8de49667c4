"""SMTP load benchmark: messages per second *durably accepted* (250 after commit / queue fsync).

Loopback only, bounded: 20 concurrent SMTP sessions send 2 KB messages
(``--messages`` in total) to

1. the gateway's SMTP listener (``python -m gateway serve`` in a child process, SQLite in a
   temporary directory; its replies go to a local sink relay that accepts and drops them, so
   answering competes with accepting as it would in production), and
2. when Postfix is installed, a private Postfix instance on a temporary config/queue directory
   delivering to a Maildir (virtual delivery), for comparison.

The load generator is Postfix's ``smtp-source`` when present (``-s 20 -l 2048``), else an
asyncio client (aiosmtplib, 20 sessions). Prints messages/s for each and the ratio.

    .venv/bin/python bench/smtp_load.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiosmtplib

REPO = Path(__file__).resolve().parent.parent
SESSIONS = 20
SIZE = 2048
SMTP_SOURCE = shutil.which("smtp-source") or (
    "/usr/sbin/smtp-source" if os.path.exists("/usr/sbin/smtp-source") else None
)
POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message(i: int, domain: str) -> bytes:
    head = (
        f"From: bench{i % SESSIONS}@example.org\r\nTo: office@{domain}\r\nSubject: bench {i}\r\n"
        f"Message-ID: <bench-{i}-{time.time_ns()}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = "社保卡丢了怎么补办，需要带什么材料？\r\n".encode()
    body = (line * (SIZE // len(line) + 1))[: SIZE - len(head)]
    return head + body


async def asyncio_load(port: int, total: int, domain: str) -> tuple[int, float]:
    """``total`` messages over ``SESSIONS`` concurrent sessions; returns (accepted, seconds)."""
    accepted = 0
    counter = iter(range(total))

    async def session() -> None:
        nonlocal accepted
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await client.connect()
        for i in counter:
            data = message(i, domain)
            errors, _ = await client.sendmail("bench@example.org", [f"office@{domain}"], data)
            accepted += not errors
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(SESSIONS)))
    return accepted, time.perf_counter() - start


def smtp_source_load(port: int, total: int, domain: str) -> tuple[int, float]:
    """Postfix's smtp-source: -s sessions, -m messages, -l size; counts as accepted on exit 0."""
    assert SMTP_SOURCE is not None
    start = time.perf_counter()
    subprocess.run(
        [
            SMTP_SOURCE,
            "-s",
            str(SESSIONS),
            "-m",
            str(total),
            "-l",
            str(SIZE),
            "-d",
            "-f",
            "bench@example.org",
            "-t",
            f"office@{domain}",
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return total, time.perf_counter() - start


def load(port: int, total: int, domain: str) -> tuple[int, float, str]:
    if SMTP_SOURCE:
        accepted, seconds = smtp_source_load(port, total, domain)
        return accepted, seconds, "smtp-source"
    accepted, seconds = asyncio.run(asyncio_load(port, total, domain))
    return accepted, seconds, "asyncio client"


class _Sink:
    """The outgoing relay: accepts the gateway's replies and drops them."""

    replies = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        _Sink.replies += 1
        return "250 OK"


def bench_gateway(total: int) -> float:
    from aiosmtpd.controller import Controller  # a threaded sink is fine for the benchmark's relay

    work = Path(tempfile.mkdtemp(prefix="smtp-bench-gw-"))
    port = free_port()
    sink = Controller(_Sink(), hostname="127.0.0.1", port=free_port())
    sink.start()
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{work}/gateway.db",
        "GATEWAY_HTTP_PORT": "0",
        "GATEWAY_SMTP_HOST": "127.0.0.1",
        "GATEWAY_SMTP_PORT": str(port),
        "GATEWAY_CHANNELS_ENABLED": "email",
        "GATEWAY_MAIL_DOMAINS": "gateway.test",
        "GATEWAY_MAIL_FROM": "service@gateway.test",
        "GATEWAY_KB_IMPORT_ON_START": ",".join(
            str(REPO / "config" / "kb" / f) for f in ("departments.yaml", "services.yaml", "faq.yaml")
        ),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_SMTP_RELAY_URL": f"smtp://127.0.0.1:{sink.port}",
        # smtp-source sends everything from one address; without this the loop guard would
        # (rightly) stop answering it after a few messages and the run would measure less work.
        "GATEWAY_MAIL_AUTO_ANSWERS_PER_SENDER": "1000000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if re.search(r"listening on http://", line):
                break
        else:
            raise SystemExit("gateway did not start")
        # Keep reading its output: a full pipe would block the gateway's next log line.
        drain = threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True)  # type: ignore[union-attr]
        drain.start()
        accepted, seconds, tool = load(port, total, "gateway.test")
    finally:
        proc.terminate()
        proc.wait(30)
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)
    rate = accepted / seconds
    print(
        f"gateway listener ({tool}): {accepted} x {SIZE} B in {seconds:.2f} s = {rate:.0f} messages/s"
        f" (committed before 250; {_Sink.replies} replies relayed meanwhile)"
    )
    return rate


def bench_postfix(total: int) -> float | None:
    """A throw-away Postfix instance (own config and queue directories) on a loopback port."""
    if not POSTFIX:
        print("postfix: not installed (apt-get install postfix); comparison skipped")
        return None
    work = Path(tempfile.mkdtemp(prefix="smtp-bench-pf-"))
    work.chmod(0o755)  # Postfix's daemons run as the postfix user and must reach data/ and queue/
    conf, queue, maildir = work / "conf", work / "queue", work / "vmail"
    for directory in (conf, queue, maildir, work / "data"):
        directory.mkdir()
    shutil.chown(maildir, "nobody", "nogroup")
    shutil.chown(work / "data", "postfix")
    port = free_port()
    shutil.copy("/usr/share/postfix/master.cf.dist", conf / "master.cf")
    master = (conf / "master.cf").read_text().replace("smtp      inet", f"127.0.0.1:{port} inet", 1)
    (conf / "master.cf").write_text(master)
    (conf / "main.cf").write_text(
        "compatibility_level = 3.6\n"
        f"queue_directory = {queue}\ndata_directory = {work}/data\n"
        "inet_interfaces = loopback-only\ninet_protocols = ipv4\nmyhostname = bench.localhost\n"
        "mydestination =\nvirtual_mailbox_domains = bench.test\n"
        f"virtual_mailbox_base = {maildir}\nvirtual_mailbox_maps = static:office/\n"
        "virtual_uid_maps = static:65534\nvirtual_gid_maps = static:65534\n"
        "smtpd_recipient_restrictions = permit_mynetworks, reject\nmynetworks = 127.0.0.0/8\n"
        "default_process_limit = 100\nsmtpd_client_connection_count_limit = 0\n"
        # Postfix logs to syslog by default; this machine may have none, and its errors are wanted.
        f"maillog_file = {work}/maillog\nmaillog_file_prefixes = {work}\n"
    )
    # The postfix command accepts "-c DIR" only for directories the default main.cf lists in
    # alternate_config_directories (postconf(5)); list ours for the run and restore the file after.
    default_main = Path("/etc/postfix/main.cf")
    original = default_main.read_text() if default_main.exists() else None
    default_main.write_text((original or "") + f"\nalternate_config_directories = {conf}\n")
    try:
        return _run_postfix(conf, work, maildir, port, total)
    finally:
        if original is None:
            default_main.unlink()
        else:
            default_main.write_text(original)


def _run_postfix(conf: Path, work: Path, maildir: Path, port: int, total: int) -> float | None:
    assert POSTFIX is not None
    started = subprocess.run([POSTFIX, "-c", str(conf), "start"], capture_output=True, check=False)
    if started.returncode != 0:
        log = (work / "maillog").read_text()[-300:] if (work / "maillog").exists() else started.stderr.decode()
        print(f"postfix: could not start a private instance ({log.strip()}); skipped")
        shutil.rmtree(work, ignore_errors=True)
        return None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.1)
        accepted, seconds, tool = load(port, total, "bench.test")
        rate = accepted / seconds
        print(
            f"postfix -> Maildir ({tool}): {accepted} x {SIZE} B in {seconds:.2f} s = {rate:.0f} messages/s (queued durably)"
        )
        delivered_deadline = time.monotonic() + 60
        new = maildir / "office" / "new"
        while time.monotonic() < delivered_deadline and (not new.exists() or len(os.listdir(new)) < accepted):
            time.sleep(0.2)
        count = len(os.listdir(new)) if new.exists() else 0
        print(f"postfix: {count} of {accepted} delivered to the Maildir")
        return rate
    finally:
        subprocess.run([POSTFIX, "-c", str(conf), "stop"], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    print(f"{SESSIONS} concurrent sessions, {args.messages} messages of {SIZE} bytes, loopback")
    gateway = bench_gateway(args.messages)
    postfix = bench_postfix(args.messages)
    if postfix:
        print(f"ratio gateway/postfix: {gateway / postfix:.2f}")


if __name__ == "__main__":
    main()
