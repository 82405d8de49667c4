"""Which sockets are open for which web-chat session, in this process."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

# Longer than any outbox outcome takes to commit; after it the reply is in the stored history.
RECENT_TTL = 120.0


class _Client:
    """One socket and the lock that orders everything sent on it."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.lock = asyncio.Lock()


@dataclass(frozen=True, slots=True)
class _Published:
    at: float
    message_id: int
    history_item: dict[str, Any]
    sent_to: frozenset[int]  # id() of the sockets it was pushed to


class Hub:
    """Maps session tokens to their open sockets (a citizen may have several tabs open).

    Every frame to a socket is sent under that socket's lock. :meth:`joining` holds the lock
    while the new socket gets its ``session`` frame, so a reply published meanwhile waits and
    arrives after it, never before.

    Replies published in the last :data:`RECENT_TTL` seconds are remembered too: the outbox marks a
    reply sent only after ``publish`` returned, so a citizen reconnecting in between would not find
    it in the stored history. :meth:`recent_history` gives a joining socket those it was not pushed.
    """

    def __init__(self) -> None:
        self._clients: dict[str, dict[WebSocket, _Client]] = defaultdict(dict)
        self._recent: dict[str, list[_Published]] = defaultdict(list)

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

    async def publish(self, session: str, frame: str, message_id: int, history_item: dict[str, Any]) -> int:
        """Send ``frame`` to every socket of ``session``; return how many received it."""
        clients = list(self._clients.get(session, {}).values())
        # Remembered in the same step as the snapshot above (no await between), so a socket that
        # joins later either gets the frame pushed or finds it in recent_history, never both.
        self._remember(
            session,
            _Published(time.monotonic(), message_id, history_item, frozenset(id(c.socket) for c in clients)),
        )
        results = await asyncio.gather(
            *(self._send_locked(c, frame) for c in clients), return_exceptions=True
        )
        delivered = 0
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                self.remove(session, client.socket)  # the reader loop notices and cleans up too
            else:
                delivered += 1
        return delivered

    def recent_history(
        self, session: str, socket: WebSocket, already_shown: set[int]
    ) -> list[dict[str, Any]]:
        """History items of replies published lately that ``socket`` was not pushed and not shown."""
        horizon = time.monotonic() - RECENT_TTL
        return [
            p.history_item
            for p in self._recent.get(session, ())
            if p.at >= horizon and id(socket) not in p.sent_to and p.message_id not in already_shown
        ]

    def _remember(self, session: str, published: _Published) -> None:
        horizon = published.at - RECENT_TTL
        for key in [k for k, kept in self._recent.items() if kept[-1].at < horizon]:
            del self._recent[key]  # prune quiet sessions so the map cannot grow without bound
        kept = self._recent[session]
        kept[:] = [p for p in kept if p.at >= horizon]
        kept.append(published)

    @staticmethod
    async def _send_locked(client: _Client, frame: str) -> None:
        async with client.lock:
            await client.socket.send_text(frame)

    async def close_all(self, code: int, reason: str) -> None:
        sockets = [socket for clients in self._clients.values() for socket in clients]
        await asyncio.gather(*(s.close(code, reason) for s in sockets), return_exceptions=True)
        self._clients.clear()
