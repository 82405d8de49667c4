"""A real Dovecot IMAP server for tests: temporary configuration, Maildir under a tmp directory.

Listens on 127.0.0.1 on a free port with plaintext login allowed (loopback only), one user from a
passwd-file; given a certificate (``tls=``), also on a second port speaking implicit TLS (imaps,
RFC 8314). :meth:`Dovecot.drop` delivers a message the way an MTA does, straight into the Maildir.
Dovecot refuses to run its login and mail processes as root, so when the tests run as root those
run as ``nobody``, who owns the Maildir. ``dovecot_server`` FAILS (not skips) the
test when the binary is missing: the IMAP tests are part of the suite.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.certs import Certificates

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT = 10.0

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_location = maildir:{root}/mail/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
  default_fields = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
"""


@dataclass(frozen=True)
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path
    uid: int
    gid: int
    tls_port: int | None = None  # the imaps listener, when started with a certificate

    def url(self, folder: str = "INBOX", *, tls: bool = False) -> str:
        if tls:
            assert self.tls_port is not None, "started without a certificate"
            return f"imaps://{self.user}:{self.password}@{self.host}:{self.tls_port}/{folder}"
        return f"imap://{self.user}:{self.password}@{self.host}:{self.port}/{folder}"

    def drop(self, raw: bytes) -> None:
        """Deliver ``raw`` into the user's INBOX Maildir (written in tmp/, renamed into new/)."""
        maildir = self.root / "mail" / self.user / "Maildir"
        for directory in (maildir.parent, maildir, maildir / "tmp", maildir / "new", maildir / "cur"):
            directory.mkdir(exist_ok=True)
            os.chown(directory, self.uid, self.gid)
        name = f"{uuid.uuid4().hex}.gateway-test"
        staged = maildir / "tmp" / name
        staged.write_bytes(raw)
        os.chown(staged, self.uid, self.gid)
        staged.rename(maildir / "new" / name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while loop.time() < deadline:
        if process.returncode is not None:
            break
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)  # polling a port that is not open yet: no event to await
            continue
        writer.close()
        await writer.wait_closed()
        return
    output = log.read_text(errors="replace") if log.exists() else ""
    pytest.fail(f"dovecot did not start listening on {port}:\n{output[-2000:]}")


@asynccontextmanager
async def dovecot_server(
    user: str = "citizen-desk", password: str = "s3cret-pw", *, tls: Certificates | None = None
) -> AsyncIterator[Dovecot]:
    """Start Dovecot for the block and stop it (and remove its files) afterwards.

    ``tls``: serve this certificate on an extra imaps port (the plaintext port stays).
    """
    if not os.path.exists(DOVECOT):
        pytest.fail("Dovecot is not installed: install the Debian package dovecot-imapd (make system-deps)")
    # Not pytest's tmp_path: its parents are private (0700) and Dovecot's unprivileged
    # processes must reach the Maildir.
    root = Path(tempfile.mkdtemp(prefix="gateway-dovecot-"))
    try:
        async with _running(root, user, password, tls) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def _running(root: Path, user: str, password: str, tls: Certificates | None) -> AsyncIterator[Dovecot]:
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(parents=True)
    if os.geteuid() == 0:
        account = pwd.getpwnam("nobody")
        uid, gid, run_user = account.pw_uid, account.pw_gid, "nobody"
        shutil.chown(root / "mail", uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
        run_user = pwd.getpwuid(uid).pw_name
    group = grp.getgrgid(gid).gr_name
    root.chmod(0o755)
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    (root / "passwd").chmod(0o644)
    port = free_port()
    tls_port = free_port() if tls is not None else None
    ssl = "ssl = no"
    if tls is not None:
        ssl = f"ssl = yes\nssl_cert = <{tls.server_cert}\nssl_key = <{tls.server_key}"
    config = root / "dovecot.conf"
    config.write_text(
        _CONFIG.format(
            root=root,
            user=run_user,
            group=group,
            uid=uid,
            gid=gid,
            port=port,
            ssl=ssl,
            imaps_port=tls_port or 0,
        )
    )
    process = await asyncio.create_subprocess_exec(
        DOVECOT,
        "-F",
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for listening in (port, tls_port):
            if listening is not None:
                await _wait_listening(listening, process, root / "dovecot.log")
        yield Dovecot("127.0.0.1", port, user, password, root, uid, gid, tls_port)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
