"""Twilio SMS load benchmark: signed inbound webhooks at rising rates, replies at a local Twilio.

Starts ``gateway serve`` (SQLite, demo knowledge base, the ``sms`` channel) as a child process
pointed at the Twilio REST double (``tests/doubles/twilio_api.py``, in this process), and as the
baseline a bare ASGI app answering ``<Response/>`` in another child process. Both get the same
load: each step sends ``rate × seconds`` webhooks, paced to ``rate`` per second, each from its own
number (so per-sender limits never apply), signed with the twilio SDK's RequestValidator.

Prints per step: webhooks/s accepted, inquiries/s end to end (reply received at the double),
p50/p99 from webhook sent to REST send received, and lost (no reply before the deadline) and
doubled (two replies to one number) counts.

    .venv/bin/python bench/twilio_load.py [--rates 100,250,500,1000] [--seconds 2]

Not a test: the figures depend on the machine. Bounded: fixed request counts, every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.loadgen import Shot, fire, form_post
from tests.doubles.twilio_api import TwilioDouble

DEMO_KB = ",".join(str(REPO / "config" / "kb" / n) for n in ("departments.yaml", "services.yaml", "faq.yaml"))
QUESTIONS = ["第一次办身份证需要什么材料", "社保卡丢了怎么办", "居住证怎么办", "身份证丢了怎么办"]
OUR_NUMBER = "+8657112345"
DEADLINE = 60.0
BARE_APP = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/xml")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_listening(port: int) -> None:
    async with asyncio.timeout(60):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def shots(port: int, public: str, token: str, rate: int, seconds: float, step: int) -> list[Shot]:
    """The step's webhooks, each from its own number, signed as Twilio signs them."""
    validator = RequestValidator(token)
    prepared = []
    for i in range(int(rate * seconds)):
        sid = f"SM{step:04d}{i:028d}"
        number = f"+86139{step:02d}{i:06d}"
        form = {"MessageSid": sid, "SmsSid": sid, "From": number, "To": OUR_NUMBER,
                "Body": QUESTIONS[i % len(QUESTIONS)], "NumMedia": "0", "NumSegments": "1"}  # fmt: skip
        signature = validator.compute_signature(public + "/channels/twilio/sms", form)
        body = urlencode(form).encode()
        wire = form_post("127.0.0.1", port, "/channels/twilio/sms", body, {"X-Twilio-Signature": signature})
        prepared.append(Shot(number, wire))
    return prepared


async def run_gateway_steps(rates: list[int], seconds: float) -> None:
    async with TwilioDouble() as tw:
        arrivals: dict[str, list[float]] = {}
        original = tw._create

        async def timed(request):  # type: ignore[no-untyped-def]
            response = await original(request)
            if response.status == 201:
                to = request.form().get("To", [""])[0]
                arrivals.setdefault(to, []).append(time.monotonic())
            return response

        tw._create = timed  # type: ignore[method-assign]
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        tmp = tempfile.mkdtemp(prefix="twilio-bench-")
        env = {**os.environ, "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/gw.db", "GATEWAY_HTTP_PORT": str(port),
               "GATEWAY_SMTP_PORT": "0", "GATEWAY_PUBLIC_URL": public, "GATEWAY_KB_IMPORT_ON_START": DEMO_KB,
               "GATEWAY_CHANNELS_ENABLED": "sms", "GATEWAY_TWILIO_ACCOUNT_SID": tw.account_sid,
               "GATEWAY_TWILIO_AUTH_TOKEN": tw.auth_token, "GATEWAY_TWILIO_FROM": OUR_NUMBER,
               "GATEWAY_TWILIO_API_BASE": tw.base_url, "GATEWAY_LOG_LEVEL": "WARNING"}  # fmt: skip
        gateway = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", "serve", env=env, cwd=REPO,
                                                       stdout=asyncio.subprocess.DEVNULL)  # fmt: skip
        bare_port = free_port()
        bare = await asyncio.create_subprocess_exec(sys.executable, "-c", BARE_APP, str(bare_port))
        try:
            await wait_listening(port)
            await wait_listening(bare_port)
            print(f"{'target/s':>9} {'app':>8} {'answered/s':>10} {'ack p50':>8} {'ack p99':>8} {'e2e inq/s':>10} "
                  f"{'p50 ms':>8} {'p99 ms':>8} {'lost':>5} {'doubled':>7} {'errors':>6}")  # fmt: skip
            for step, rate in enumerate(rates, start=1):
                volley = await fire(
                    "127.0.0.1",
                    bare_port,
                    shots(bare_port, public, tw.auth_token, rate, seconds, 90 + step),
                    rate=rate,
                )
                acks = volley.latencies()
                print(f"{rate:>9} {'bare':>8} {len(acks) / volley.elapsed:>10.0f} {pct(acks, .5):>8.1f} {pct(acks, .99):>8.1f} "
                      f"{'-':>10} {'-':>8} {'-':>8} {'-':>5} {'-':>7} {volley.failures:>6}")  # fmt: skip
                volley = await fire(
                    "127.0.0.1", port, shots(port, public, tw.auth_token, rate, seconds, step), rate=rate
                )
                sent = volley.scheduled
                expected = len(sent) - volley.failures
                async with asyncio.timeout(DEADLINE):
                    while sum(1 for n in sent if n in arrivals) < expected:
                        await asyncio.sleep(0.05)
                acks = volley.latencies()
                done_at = max((arrivals[n][0] for n in sent if n in arrivals), default=time.monotonic())
                first = min(sent.values())
                latencies = [arrivals[n][0] - t for n, t in sent.items() if n in arrivals]
                lost = sum(1 for n in sent if n not in arrivals)
                doubled = sum(1 for n in sent if len(arrivals.get(n, ())) > 1)
                e2e = len(latencies) / (done_at - first)
                print(f"{rate:>9} {'gateway':>8} {len(acks) / volley.elapsed:>10.0f} {pct(acks, .5):>8.1f} {pct(acks, .99):>8.1f} "
                      f"{e2e:>10.0f} {pct(latencies, .5):>8.0f} {pct(latencies, .99):>8.0f} {lost:>5} {doubled:>7} {volley.failures:>6}")  # fmt: skip
            print(f"replies per number: {Counter(len(v) for v in arrivals.values())}")
        except TimeoutError:
            print("deadline passed: the gateway did not reply to everything (saturated)")
        finally:
            for process in (gateway, bare):
                process.terminate()
                await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,250,500,1000")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(run_gateway_steps([int(r) for r in args.rates.split(",")], args.seconds))


if __name__ == "__main__":
    main()
