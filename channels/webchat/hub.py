"""Which sockets are open for which web-chat session, in this process."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from starlette.websockets import WebSocket

log = logging.getLogger(__name__)


class Hub:
    """Maps session tokens to their open sockets (a citizen may have several tabs open)."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)

    def add(self, session: str, socket: WebSocket) -> None:
        self._sockets[session].add(socket)

    def remove(self, session: str, socket: WebSocket) -> None:
        sockets = self._sockets.get(session)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[session]

    def count(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    async def publish(self, session: str, frame: str) -> int:
        """Send ``frame`` to every socket of ``session``; return how many received it."""
        sockets = list(self._sockets.get(session, ()))
        results = await asyncio.gather(*(s.send_text(frame) for s in sockets), return_exceptions=True)
        delivered = 0
        for socket, result in zip(sockets, results, strict=True):
            if isinstance(result, BaseException):
                self.remove(session, socket)  # the reader loop will notice and clean up too
            else:
                delivered += 1
        return delivered

    async def close_all(self, code: int, reason: str) -> None:
        sockets = [s for group in self._sockets.values() for s in group]
        await asyncio.gather(*(s.close(code, reason) for s in sockets), return_exceptions=True)
        self._sockets.clear()
