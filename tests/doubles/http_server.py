"""A minimal HTTP/1.1 server on asyncio streams for test doubles of external providers.

Why not uvicorn: a double must start and stop in milliseconds, inside the test's own event loop,
without installing signal handlers or ticking on a timer. This serves RFC 9112 messages with
``Content-Length`` or ``chunked`` bodies and keep-alive, which is all HTTP clients send to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def form(self) -> dict[str, list[str]]:
        """The body decoded as ``application/x-www-form-urlencoded`` (repeated keys kept)."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


class _Malformed(Exception):
    pass


class DropConnection(Exception):
    """Raised by a handler to close the connection without answering: a response lost in transit."""


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or "0")
    if length < 0 or length > _MAX_BODY:
        raise _Malformed("bad Content-Length")
    return await reader.readexactly(length)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed the connection between requests
    except asyncio.LimitOverrunError as exc:
        raise _Malformed("header section too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _Malformed("bad request line") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _Malformed("bad header line")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return Request(method.upper(), target, headers, await _read_body(reader, headers))


def _encode(response: Response, keep_alive: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
    headers = {
        "Content-Length": str(len(response.body)),
        "Connection": "keep-alive" if keep_alive else "close",
    }
    headers.update(response.headers)
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode("latin-1") + response.body


class HTTPServer:
    """Serve ``handler`` on 127.0.0.1 (port 0 = any free port) until :meth:`close`."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        # Python 3.11's wait_closed() does not wait for connection handlers: wait for them here,
        # so none is left for the event loop to cancel at teardown.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except (_Malformed, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    writer.write(_encode(Response(400, b"bad request"), keep_alive=False))
                    await writer.drain()
                    break
                if request is None:
                    break
                try:
                    response = await self._handler(request)
                except DropConnection:
                    break
                except Exception as exc:  # noqa: BLE001 - a bug in a double must show up as a 500, not a hang
                    response = Response(500, f"double failed: {exc!r}".encode())
                keep_alive = request.headers.get("connection", "").lower() != "close"
                writer.write(_encode(response, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
