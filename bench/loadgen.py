"""A paced HTTP/1.1 load generator that costs the machine little, run in a process of its own.

Why not httpx: under a few hundred requests in flight, httpx's connection pool spends
milliseconds of CPU per request, so a benchmark that drives the gateway with it measures httpx.
Here every request is encoded before the clock starts, sent over a fixed set of keep-alive
connections with plain asyncio streams, and only the status line and ``Content-Length`` of each
answer are read (RFC 9112 section 6). The generator runs in a child process, so its CPU time is
not taken from the process that receives the replies.

Latency is measured from each request's *scheduled* send time, not from when a connection was
free to send it: when the server falls behind, the waiting counts (no coordinated omission).
``time.monotonic`` is CLOCK_MONOTONIC on Linux, shared by all processes, so the parent can
compare these times with its own.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import time
from dataclasses import dataclass

try:  # the gateway's own event loop, when installed; the plain one otherwise
    import uvloop

    _loop_factory = uvloop.new_event_loop
except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
    _loop_factory = asyncio.new_event_loop


@dataclass(frozen=True, slots=True)
class Shot:
    """One request to send: ``key`` names it in the results, ``wire`` is the whole request."""

    key: str
    wire: bytes


@dataclass(frozen=True, slots=True)
class Volley:
    """What a run produced, per key: the scheduled send time, the answer's status (0: none) and
    when it came; and the time from the first scheduled send to the last answer."""

    scheduled: dict[str, float]
    status: dict[str, int]
    answered: dict[str, float]
    elapsed: float

    @property
    def failures(self) -> int:
        return sum(1 for code in self.status.values() if code != 200)

    def latencies(self) -> list[float]:
        """Seconds from scheduled send to answer, for the requests answered 200."""
        return [self.answered[k] - t for k, t in self.scheduled.items() if self.status.get(k) == 200]


def form_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """An encoded ``POST`` with a form body, keep-alive."""
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
            "Content-Type: application/x-www-form-urlencoded", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:  # RFC 9112 section 7.1: size lines until a zero-size chunk, then trailers
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass
    elif length:
        await reader.readexactly(length)
    return status


async def _volley(host: str, port: int, shots: list[Shot], rate: float, connections: int) -> Volley:
    due: asyncio.Queue[tuple[Shot, float] | None] = asyncio.Queue()
    scheduled: dict[str, float] = {}
    status: dict[str, int] = {}
    answered: dict[str, float] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await due.get()) is not None:
                shot, _ = item
                try:
                    writer.write(shot.wire)
                    status[shot.key] = await _read_status(reader)
                    answered[shot.key] = time.monotonic()
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    status[shot.key] = 0
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.monotonic()
    for n, shot in enumerate(shots):
        at = start + n / rate
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        scheduled[shot.key] = at
        due.put_nowait((shot, at))
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return Volley(scheduled, status, answered, time.monotonic() - start)


def _child(
    conn: multiprocessing.connection.Connection, args: tuple[str, int, list[Shot], float, int]
) -> None:
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        conn.send(runner.run(_volley(*args)))
    conn.close()


async def fire(host: str, port: int, shots: list[Shot], *, rate: float, connections: int = 64) -> Volley:
    """Send ``shots`` at ``rate`` per second from a child process; return once all are answered."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, (host, port, shots, rate, connections)))
    process.start()
    child.close()
    try:
        volley: Volley = await asyncio.to_thread(parent.recv)
    finally:
        await asyncio.to_thread(process.join)
    return volley
