"""Which sockets are open for which web-chat session, in this process."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.websockets import WebSocket

# Longer than any outbox outcome takes to commit; after it the reply is in the history.
UNDELIVERED_TTL = 120.0


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

    A reply published while a session has no socket is also kept here for a short while
    (:data:`UNDELIVERED_TTL`): the outbox records it as stored only after ``publish`` returned, so a
    citizen reconnecting in between would find it neither in the history nor pushed live.
    :meth:`take_undelivered` hands such replies to the joining socket.
    """

    def __init__(self) -> None:
        self._clients: dict[str, dict[WebSocket, _Client]] = defaultdict(dict)
        self._undelivered: dict[str, list[tuple[float, int, str]]] = defaultdict(list)

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

    async def publish(self, session: str, frame: str, message_id: int) -> int:
        """Send ``frame`` to every socket of ``session``; return how many received it."""
        clients = list(self._clients.get(session, {}).values())
        if not clients:
            self._keep_undelivered(session, message_id, frame)
            return 0
        results = await asyncio.gather(*(self._send_locked(c, frame) for c in clients), return_exceptions=True)
        delivered = 0
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                self.remove(session, client.socket)  # the reader loop notices and cleans up too
            else:
                delivered += 1
        return delivered

    def _keep_undelivered(self, session: str, message_id: int, frame: str) -> None:
        now = time.monotonic()
        for key in [k for k, kept in self._undelivered.items() if kept[-1][0] < now - UNDELIVERED_TTL]:
            del self._undelivered[key]  # prune stale sessions so the map cannot grow without bound
        self._undelivered[session].append((now, message_id, frame))

    def take_undelivered(self, session: str, already_shown: set[int]) -> list[str]:
        """Frames published to ``session`` while it had no socket and not in ``already_shown``."""
        kept = self._undelivered.pop(session, [])
        horizon = time.monotonic() - UNDELIVERED_TTL
        return [frame for at, message_id, frame in kept if at >= horizon and message_id not in already_shown]

    @staticmethod
    async def _send_locked(client: _Client, frame: str) -> None:
        async with client.lock:
            await client.socket.send_text(frame)

    async def close_all(self, code: int, reason: str) -> None:
        sockets = [socket for clients in self._clients.values() for socket in clients]
        await asyncio.gather(*(s.close(code, reason) for s in sockets), return_exceptions=True)
        self._clients.clear()
