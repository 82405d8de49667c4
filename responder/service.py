"""The responder as the rest of the gateway uses it: one object holding the knowledge base and index.

The pipeline, ``gateway ask`` and ``POST /api/v1/ask`` call :meth:`Responder.decide`, which is
synchronous and fast (a search over an in-memory index). :meth:`Responder.reload` picks up
knowledge-base changes: it reads the revision counter and, only when it moved, loads the
knowledge base and rebuilds the index in a worker thread, so the event loop never blocks on it.
The (knowledge base, index) pair is swapped in one assignment: a concurrent ``decide`` sees
either the old pair or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from normalizer.text import guess_language
from responder.index import SearchIndex
from responder.kb_model import KnowledgeBase
from responder.kb_store import kb_revision, load_kb
from responder.policy import QUEUE_REPLY, Decision, decide

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def as_json(decision: Decision) -> dict[str, Any]:
    """``decision`` in the shape of ``gateway ask --json`` and ``POST /api/v1/ask`` (INTERFACE.md).

    ``{"decision", "id", "kind", "score", "options": [{"id", "score"}], "reply"}``; ``id`` and
    ``kind`` are null unless the decision is ``answer``.
    """
    answered = decision.decision == "answer"
    return {
        "decision": decision.decision,
        "id": decision.entry_id if answered else None,
        "kind": decision.kind if answered else None,
        "score": round(decision.score, 4),
        "options": [{"id": o.id, "score": round(o.score, 4)} for o in decision.options],
        "reply": decision.reply,
    }


class Responder:
    """Holds the current :class:`KnowledgeBase` and its :class:`SearchIndex`.

    Build one with :meth:`from_kb` (tests, files) or empty and then :meth:`reload` from the
    database. Until a knowledge base is loaded every question is queued.
    """

    def __init__(self) -> None:
        self._state: tuple[KnowledgeBase, SearchIndex] | None = None
        self.revision: int | None = None
        self._reload_lock = asyncio.Lock()

    @classmethod
    async def from_kb(cls, kb: KnowledgeBase) -> Responder:
        """A responder over ``kb``, its index built in a worker thread."""
        responder = cls()
        await responder.use(kb)
        return responder

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base in use (empty before the first load)."""
        return self._state[0] if self._state is not None else KnowledgeBase()

    async def use(self, kb: KnowledgeBase, revision: int | None = None) -> None:
        """Switch to ``kb``, building its index in a worker thread (CPU work off the event loop)."""
        index = await asyncio.to_thread(SearchIndex.build, kb)
        self._state = (kb, index)
        self.revision = revision

    async def reload(self, session_factory: SessionFactory) -> bool:
        """Load the knowledge base from the database if its revision changed; True if it did.

        ``session_factory()`` must return an async context manager yielding an AsyncSession
        (an ``async_sessionmaker`` does). Concurrent calls are serialised.
        """
        async with self._reload_lock:
            async with session_factory() as session:
                revision = await kb_revision(session)
                if self._state is not None and revision == self.revision:
                    return False
                kb = await load_kb(session)
            await self.use(kb, revision)
            return True

    def decide(self, text: str, channel: str = "webchat") -> Decision:
        """Decide how to handle ``text`` arriving on ``channel`` (see :mod:`responder.policy`)."""
        state = self._state
        if state is None:
            lang = guess_language(text)
            return Decision("queue", reply=QUEUE_REPLY[lang], language=lang)
        kb, index = state
        return decide(index, kb, text, channel)

    as_json = staticmethod(as_json)
