"""The inquiry pipeline: persist + dedup, acknowledge, decide, enqueue the reply.

``accept`` is what channels call (their ``on_message``): it commits the inquiry and returns its
id, and only then may the channel acknowledge its sender. Deciding happens afterwards on a
background queue, so a slow responder never delays acknowledgements. An inbound message stays in
state ``received`` until its decision and reply are committed together; :meth:`Pipeline.recover`
re-queues every such message at start-up, so a crash between ack and decision loses nothing, and
the conditional state change makes sure a message is decided exactly once even if two processes
recover it at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from channels.base import Capabilities
from gateway.errors import StorageUnavailable
from gateway.intake import Intake
from gateway.metrics import Metrics
from gateway.replies import enqueue_reply
from gateway.retry import STORAGE_ERRORS, backoff_delay
from gateway.store.db import SessionFactory
from gateway.store.models import Conversation, Message
from gateway.store.units import run_unit
from normalizer import Inquiry
from responder.policy import Decision, answer_record, pick_option
from responder.render import RenderContext, render_for_channel
from responder.service import Responder

log = logging.getLogger(__name__)

MAX_BATCH = 64  # inquiries decided in one transaction at most
KB_CHECK_SECONDS = 1.0

# A conversation waiting for a person: the bot stays quiet and new messages join the queue.
HUMAN_STATES = frozenset({"queued", "forwarded"})


class Pipeline:
    """Accepts inquiries from channels and turns them into decisions and outbox rows."""

    def __init__(
        self,
        session_factory: SessionFactory,
        responder: Responder,
        metrics: Metrics,
        on_outbox_write: Callable[[], None],
        *,
        capabilities: Callable[[str], Capabilities],
        queue_reply_hours: int,
        public_url: str,
    ) -> None:
        self.capabilities = capabilities
        self.queue_reply_hours = queue_reply_hours
        self.public_url = public_url
        self.session_factory = session_factory
        self.responder = responder
        self.metrics = metrics
        self.on_outbox_write = on_outbox_write
        self.intake = Intake(session_factory)
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._kb_checked_at = -KB_CHECK_SECONDS

    async def accept(self, inquiry: Inquiry) -> int:
        """Commit ``inquiry`` (or find its earlier copy) and return its id; then queue it.

        Raises :class:`StorageUnavailable` when the database cannot commit, so the channel can
        give its sender a temporary failure.
        """
        try:
            inquiry_id, duplicate = await self.intake.persist(inquiry)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise StorageUnavailable("the inquiry could not be stored") from exc
        if duplicate:
            self.metrics.inbound_duplicates.labels(channel=inquiry.channel).inc()
        else:
            self._queue.put_nowait(inquiry_id)
        return inquiry_id

    async def recover(self) -> int:
        """Queue every inbound message accepted but not yet decided; return how many."""
        async with self.session_factory() as session:
            ids = list(
                await session.scalars(
                    select(Message.id)
                    .where(Message.direction == "in", Message.state == "received")
                    .order_by(Message.id)
                )
            )
        for inquiry_id in ids:
            self._queue.put_nowait(inquiry_id)
        return len(ids)

    async def run(self) -> None:
        """Decide queued inquiries until cancelled, in batches of what is waiting."""
        outages = 0
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.process(*batch)
                outages = 0
            except asyncio.CancelledError:
                raise
            except STORAGE_ERRORS as exc:
                # Storage blip: try these inquiries again later, backing off while it lasts.
                outages += 1
                delay = backoff_delay(outages, 0.5, 30.0)
                log.warning(
                    "deciding %d inquiries: database unavailable (%s); again in %.1f s",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                for inquiry_id in batch:
                    asyncio.get_running_loop().call_later(delay, self._queue.put_nowait, inquiry_id)
            except Exception:  # noqa: BLE001 - a bug in one inquiry; retried one by one below
                await self._process_one_by_one(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _process_one_by_one(self, batch: list[int]) -> None:
        """After a batch failed on a bug, decide its inquiries alone so one cannot block the rest."""
        for inquiry_id in batch:
            try:
                await self.process(inquiry_id)
            except Exception:
                # Left in state "received": the next start-up's recover() tries again.
                log.exception("deciding inquiry %s failed", inquiry_id)

    async def drain(self) -> None:
        """Wait until every queued inquiry has been decided."""
        await self._queue.join()

    async def process(self, *inquiry_ids: int) -> None:
        """Decide inquiries and commit each decision with its reply, exactly once.

        All of ``inquiry_ids`` share one transaction (a unit of work, :mod:`gateway.store.units`):
        on SQLite the cost is per commit, so a burst of inquiries is decided for the price of one.
        """
        await self._refresh_responder()
        if await run_unit(self.session_factory, lambda session: self._decide_all(session, inquiry_ids)):
            self.on_outbox_write()

    def _decide_all(self, session: Session, inquiry_ids: tuple[int, ...]) -> bool:
        """Claim, decide and write replies; True when a reply was written."""
        # The claim makes each decision happen once, even when two processes recover the same
        # inquiries: only rows still "received" move to "decided", and only those are decided.
        claimed = list(
            session.scalars(
                update(Message)
                .where(Message.id.in_(inquiry_ids), Message.state == "received")
                .values(state="decided")
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        if not claimed:
            return False
        messages = list(session.scalars(select(Message).where(Message.id.in_(claimed)).order_by(Message.id)))
        conversation_ids = {m.conversation_id for m in messages}
        conversations = {
            c.id: c
            for c in session.scalars(select(Conversation).where(Conversation.id.in_(conversation_ids)))
        }
        wrote_reply = False
        for message in messages:
            wrote_reply |= self._decide(session, conversations[message.conversation_id], message)
        return wrote_reply

    async def _refresh_responder(self) -> None:
        # Checking the knowledge-base revision is a query; once a second is fresh enough.
        now = time.monotonic()
        if now - self._kb_checked_at >= KB_CHECK_SECONDS:
            self._kb_checked_at = now
            await self.responder.reload(self.session_factory)

    def _decide(self, session: Session, conversation: Conversation, message: Message) -> bool:
        recipient = conversation.contact.address
        directive = (message.extra or {}).get("directive")
        if conversation.contact.opted_out_at is not None and directive != "reply":
            # The contact asked for no more messages (SMS STOP): only control replies go out.
            directive = "ignore"
        if directive == "ignore" or (directive is None and conversation.status in HUMAN_STATES):
            message.decision = "ignore" if directive == "ignore" else "queue"
            self.metrics.inquiries.labels(channel=message.channel, decision=message.decision).inc()
            return False
        if directive == "reply":
            message.decision = "control"
            enqueue_reply(
                session,
                conversation,
                str(message.extra.get("directive_text", "")),
                author="bot",
                recipient=recipient,
                in_reply_to=message,
                metadata={"control": True},
            )
            self.metrics.inquiries.labels(channel=message.channel, decision="control").inc()
            return True
        if directive == "queue":
            message.decision = "queue"
            conversation.status = "queued"
            self.metrics.inquiries.labels(channel=message.channel, decision="queue").inc()
            return False
        decision = self._decision_for(message.text, message.channel, conversation.pending_options)
        message.decision = decision.decision
        message.entry_id = decision.entry_id
        message.score = decision.score
        options = [
            {"n": n, "id": option.id, "title": option.title}
            for n, option in enumerate(decision.options, start=1)
        ]
        conversation.pending_options = options or None
        if decision.decision == "queue":
            conversation.status = "queued"
            conversation.department_id = decision.department_id
        elif conversation.status == "answered":
            conversation.status = "open"
        reply = render_for_channel(
            decision,
            self.capabilities(message.channel),
            RenderContext(conversation.id, self.queue_reply_hours, self.public_url),
        )
        enqueue_reply(
            session,
            conversation,
            reply,
            author="bot",
            recipient=recipient,
            in_reply_to=message,
            options=options,
            metadata={
                "decision": decision.decision,
                "entry_id": decision.entry_id,
                "department_id": decision.department_id,
                "subject": message.subject,
                "language": decision.language,
            },
        )
        self.metrics.inquiries.labels(channel=message.channel, decision=decision.decision).inc()
        return True

    def _decision_for(self, text: str, channel: str, pending_options: list[Any] | None) -> Decision:
        """The responder's decision, or the entry a numbered reply picks from the last clarify."""
        picked = pick_option(pending_options, text) if pending_options else None
        if picked is not None:
            try:
                return answer_record(self.responder.kb, picked, text, channel)
            except KeyError:
                pass  # the entry was removed from the knowledge base since; decide afresh
        return self.responder.decide(text, channel)
