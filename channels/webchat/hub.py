"""Which sockets are open for which web-chat session, in this process."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.websockets import WebSocket


class _Client:
    """One socket and the lock that orders everything sent on it."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.lock = asyncio.Lock()


class Hub:
    """Maps session tokens to their open sockets (a citizen may have several tabs open).

    Every frame to a socket is sent under that socket's lock. :meth:`joining` holds the lock
    while the new socket gets its ``session`` frame, so a reply published meanwhile waits and
    arrives after it, never before.
    """

    def __init__(self) -> None:
        self._clients: dict[str, dict[WebSocket, _Client]] = defaultdict(dict)

    @asynccontextmanager
    async def joining(self, session: str, socket: WebSocket) -> AsyncIterator[None]:
        """Register ``socket``; publishing to it waits until the block ends."""
        client = _Client(socket)
        async with client.lock:
            self._clients[session][socket] = client
            yield

    def remove(self, session: str, socket: WebSocket) -> None:
        clients = self._clients.get(session)
        if clients is not None:
            clients.pop(socket, None)
            if not clients:
                del self._clients[session]

    async def send(self, socket: WebSocket, session: str, frame: str) -> None:
        """Send ``frame`` to one socket of ``session``, in order with published frames."""
        client = self._clients.get(session, {}).get(socket)
        if client is None:
            await socket.send_text(frame)
            return
        async with client.lock:
            await socket.send_text(frame)

    async def publish(self, session: str, frame: str) -> int:
        """Send ``frame`` to every socket of ``session``; return how many received it."""
        clients = list(self._clients.get(session, {}).values())
        results = await asyncio.gather(*(self._send_locked(c, frame) for c in clients), return_exceptions=True)
        delivered = 0
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                self.remove(session, client.socket)  # the reader loop notices and cleans up too
            else:
                delivered += 1
        return delivered

    @staticmethod
    async def _send_locked(client: _Client, frame: str) -> None:
        async with client.lock:
            await client.socket.send_text(frame)

    async def close_all(self, code: int, reason: str) -> None:
        sockets = [socket for clients in self._clients.values() for socket in clients]
        await asyncio.gather(*(s.close(code, reason) for s in sockets), return_exceptions=True)
        self._clients.clear()
