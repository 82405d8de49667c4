"""Web-chat load benchmark: N concurrent citizens asking knowledge-base questions.

Starts ``gateway serve`` (SQLite, demo knowledge base) as a child process and, as the baseline, a
bare ``websockets`` echo server in another child process; drives both with the same clients over
loopback. Each client sends its questions one after another, waiting for the reply before the
next. Prints messages/s and p50/p99 latency from send to ``ack`` and from send to ``reply``.

    .venv/bin/python bench/webchat_load.py [--clients 50] [--questions 20]

Not a test: the figures depend on the machine. Bounded: every client sends a fixed number of
messages and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websockets

REPO = Path(__file__).resolve().parent.parent
DEMO_KB = ",".join(str(REPO / "config" / "kb" / n) for n in ("departments.yaml", "services.yaml", "faq.yaml"))
QUESTIONS = [
    "第一次办身份证需要什么材料",
    "社保卡丢了怎么办",
    "营业执照怎么办理",
    "公积金怎么提取",
    "How do I apply for a residence permit?",
    "公安局的电话是多少",
    "新生儿怎么上户口",
    "医保怎么报销",
]
TIMEOUT = 30.0

ECHO_SERVER = """
import asyncio, json, sys, websockets
async def handler(ws):
    await ws.send(json.dumps({"type": "session", "session": "echo", "history": []}))
    async for raw in ws:
        frame = json.loads(raw)
        await ws.send(json.dumps({"type": "ack", "client_id": frame["client_id"], "inquiry_id": 0}))
        await ws.send(json.dumps({"type": "reply", "inquiry_id": 0, "text": frame["text"], "from": "bot"}))
async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=2**20) as server:
        print("listening on ws://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


@dataclass
class Figures:
    ack: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def line(self, name: str) -> str:
        def pct(values: list[float], q: float) -> float:
            return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")

        rate = len(self.reply) / self.elapsed if self.elapsed else 0.0
        return (
            f"{name:<22} {rate:>9.1f} {pct(self.ack, 50):>9.1f} {pct(self.ack, 99):>9.1f} "
            f"{pct(self.reply, 50):>10.1f} {pct(self.reply, 99):>10.1f} {self.errors:>7}"
        )


async def _citizen(url: str, questions: int, figures: Figures, connected: asyncio.Barrier) -> None:
    async with websockets.connect(url, max_size=2**20) as ws:
        json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        await asyncio.wait_for(connected.wait(), TIMEOUT)  # everyone connected: the clock starts
        for n in range(questions):
            client_id = uuid.uuid4().hex
            sent = time.perf_counter()
            await ws.send(
                json.dumps({"type": "message", "text": QUESTIONS[n % len(QUESTIONS)], "client_id": client_id})
            )
            acked = replied = False
            while not (acked and replied):
                frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                now = time.perf_counter()
                if frame["type"] == "ack" and not acked:
                    figures.ack.append(now - sent)
                    acked = True
                elif frame["type"] == "reply" and not replied:
                    figures.reply.append(now - sent)
                    replied = True
                elif frame["type"] == "error":
                    figures.errors += 1
                    acked = replied = True


async def run_load(url: str, clients: int, questions: int) -> Figures:
    figures = Figures()
    connected = asyncio.Barrier(clients + 1)
    tasks = [asyncio.create_task(_citizen(url, questions, figures, connected)) for _ in range(clients)]
    await asyncio.wait_for(connected.wait(), TIMEOUT)
    began = time.perf_counter()
    await asyncio.gather(*tasks)
    figures.elapsed = time.perf_counter() - began
    return figures


async def _spawn(args: list[str], env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    while line := (await asyncio.wait_for(process.stdout.readline(), 120)).decode():
        if match := re.search(r"listening on (\S+)", line):
            asyncio.create_task(_drain(process))
            return process, match.group(1)
    raise RuntimeError("server did not start")


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--questions", type=int, default=20)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "GATEWAY_HTTP_PORT": "0",
            "GATEWAY_KB_IMPORT_ON_START": DEMO_KB,
            "GATEWAY_WEBCHAT_MESSAGES_PER_MINUTE": "100000",
            "GATEWAY_LOG_LEVEL": "WARNING",
        }
        gateway, gateway_url = await _spawn(
            [sys.executable, *os.environ.get("BENCH_PYTHON_ARGS", "").split(), "-m", "gateway", "serve"], env
        )
        echo, echo_url = await _spawn([sys.executable, "-c", ECHO_SERVER], dict(os.environ))
        try:
            ws_url = gateway_url.replace("http://", "ws://") + "/channels/webchat/ws"
            await run_load(ws_url, 2, 2)  # warm-up: jieba, index, connections
            baseline = await run_load(echo_url, options.clients, options.questions)
            measured = await run_load(ws_url, options.clients, options.questions)
        finally:
            for process in (gateway, echo):
                process.terminate()
                await process.wait()

    print(
        f"{options.clients} clients x {options.questions} questions, loopback, this machine ({os.cpu_count()} CPUs)"
    )
    print(
        f"{'server':<22} {'msg/s':>9} {'ack p50':>9} {'ack p99':>9} {'reply p50':>10} {'reply p99':>10} {'errors':>7}"
    )
    print(baseline.line("websockets echo"))
    print(measured.line("gateway (SQLite)"))
    print("latencies in ms; msg/s counts questions answered per second of wall time")


if __name__ == "__main__":
    asyncio.run(main())
