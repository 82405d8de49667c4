"""The durable outbox: every reply is a row written in the same transaction as its decision.

Writing (:func:`gateway.replies.enqueue_reply`) happens inside the caller's transaction.
Delivery is the :class:`OutboxWorker`'s job:

1. *claim* due rows: ``pending`` rows whose ``next_attempt_at`` has come, and ``sending`` rows
   whose lease expired (their worker died mid-send). On PostgreSQL the candidate SELECT uses
   ``FOR UPDATE SKIP LOCKED`` so several processes share the work without blocking each other;
   the claim itself is a conditional UPDATE, so two claimants can never both win a row.
2. *send* through the channel, at most ``outbox_concurrency`` at once; except a message the
   provider already accepted on an earlier attempt (its provider id is stored: recorded as sent,
   never sent twice) and a non-control message to a contact who opted out (dead, ``opted_out``).
   Both are read with the claim, one query per batch, so channels need no lookups per message.
3. *record* the outcome (:mod:`gateway.outbox_outcomes`): ``sent``; or back to ``pending`` with
   exponential backoff and jitter on a :class:`~gateway.errors.RetryableSendError`; or ``dead`` on
   a permanent error or after ``outbox_max_attempts`` attempts. Dead rows are listed by
   ``GET /api/v1/outbox?status=dead``.

A committed row wakes the worker at once through :meth:`OutboxWorker.notify` (no polling delay);
a timer still covers retries that fall due and rows written by other processes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from channels.base import Channel, OutboundMessage, SendResult
from gateway.errors import PermanentSendError, SendError
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from gateway.outbox_outcomes import OutcomeRecorder
from gateway.retry import STORAGE_ERRORS, backoff_delay
from gateway.settings import Settings
from gateway.store.db import SessionFactory
from gateway.store.models import Contact, Conversation, Message, OutboxItem, utcnow
from gateway.store.units import run_unit

log = logging.getLogger(__name__)

IDLE_RECHECK_SECONDS = 5.0  # upper bound on how late a due retry (or a missed NOTIFY) is seen
DEAD_WORKER_SWEEP_SECONDS = 30.0  # how often rows of workers that died are looked for
OPTED_OUT = "opted_out"  # error code of a reply withheld because its recipient opted out


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed outbox row and what the claim read about its message.

    accepted_as: the provider's id when an earlier attempt was accepted (a crash or lost outcome
        record let the lease expire); such a row is recorded as sent and not sent again.
    opted_out: the recipient opted out (SMS STOP) since the reply was decided.
    """

    item: OutboxItem
    accepted_as: str | None = None
    opted_out: bool = False


class OutboxWorker:
    """Claims due outbox rows and sends them through their channels."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        session_factory: SessionFactory,
        channels: Callable[[], Mapping[str, Channel]],
        metrics: Metrics,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.session_factory = session_factory
        self.channels = channels
        self.metrics = metrics
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.outbox_concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.liveness = Liveness(engine, self.worker_id, self.notify)
        self.idle = asyncio.Event()  # set while the worker waits for a wake-up (nothing due)
        self.recorder = OutcomeRecorder(settings, session_factory, metrics, self.notify)

    @property
    def outcome(self) -> asyncio.Condition:
        """Notified whenever an outcome is recorded (see :attr:`outcomes_recorded`)."""
        return self.recorder.outcome

    @property
    def outcomes_recorded(self) -> int:
        """Outcomes (sent, retry scheduled, dead) recorded so far by this worker."""
        return self.recorder.outcomes_recorded

    def notify(self) -> None:
        """Tell the worker a new row was committed. Safe to call from any coroutine."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming new rows; :meth:`run` returns once in-flight sends finish."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until :meth:`stop`; then wait for in-flight sends.

        A database outage does not end the loop: it backs off and tries again, so the worker
        resumes by itself when storage comes back.
        """
        await self.liveness.start()
        last_sweep = time.monotonic()
        outages = 0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    if time.monotonic() - last_sweep > DEAD_WORKER_SWEEP_SECONDS:
                        await self.liveness.release_dead_claims()
                        last_sweep = time.monotonic()
                    more_due = await self._claim_and_dispatch()
                    if not more_due:
                        await self._sleep_until_due()
                    outages = 0
                except STORAGE_ERRORS as exc:
                    outages += 1
                    delay = backoff_delay(outages, 0.5, 30.0)
                    log.warning(
                        "outbox: database unavailable (%s); retrying in %.1f s", type(exc).__name__, delay
                    )
                    await self._wait_for_wake(delay)
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            await self.liveness.stop()

    async def _claim_and_dispatch(self) -> bool:
        """Claim a batch and start sending it; True when more rows may be due right away."""
        claimed = await self._claim_batch()
        for claim in claimed:
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver(claim))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed) >= self._batch_size()

    async def _wait_for_wake(self, timeout: float) -> None:
        self.idle.set()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.idle.clear()

    async def run_until_idle(self) -> None:
        """Send everything due now and return (used by tests and the CLI)."""
        while claimed := await self._claim_batch():
            await asyncio.gather(*(self._deliver_with_slot(claim) for claim in claimed))

    def _batch_size(self) -> int:
        return self.settings.outbox_concurrency * 2

    async def _deliver_with_slot(self, claim: Claim) -> None:
        await self._slots.acquire()
        await self._deliver(claim)

    async def _sleep_until_due(self) -> None:
        timeout = IDLE_RECHECK_SECONDS
        async with self.session_factory() as session:
            next_due = await session.scalar(
                select(OutboxItem.next_attempt_at)
                .where(OutboxItem.status == "pending")
                .order_by(OutboxItem.next_attempt_at)
                .limit(1)
            )
        if next_due is not None:
            timeout = min(timeout, max(0.0, (next_due - utcnow()).total_seconds()))
        if timeout > 0:
            await self._wait_for_wake(timeout)

    async def _claim_batch(self) -> list[Claim]:
        return await run_unit(self.session_factory, self._claim)

    def _claim(self, session: Session) -> list[Claim]:
        now = utcnow()
        due = or_(
            and_(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now),
            and_(OutboxItem.status == "sending", OutboxItem.lease_until < now),
        )
        lease_until = now + dt.timedelta(seconds=self.settings.outbox_lease_seconds)
        candidates = select(OutboxItem.id).where(due).order_by(OutboxItem.id).limit(self._batch_size())
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        # One statement claims the batch; repeating ``due`` in the UPDATE makes the claim safe
        # even where the candidate SELECT takes no row locks (SQLite serialises writers instead).
        result = session.scalars(
            update(OutboxItem)
            .where(OutboxItem.id.in_(candidates.scalar_subquery()), due)
            .values(
                status="sending",
                lease_until=lease_until,
                claimed_by=self.worker_id,
                attempts=OutboxItem.attempts + 1,
            )
            .returning(OutboxItem)
            .execution_options(synchronize_session=False)
        )
        claimed = sorted(result, key=lambda item: item.id)
        if not claimed:
            return []
        known = {
            row.id: row
            for row in session.execute(
                select(Message.id, Message.provider_message_id, Contact.opted_out_at)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Message.id.in_([item.message_id for item in claimed]))
            )
        }
        claims = []
        for item in claimed:
            row = known.get(item.message_id)
            accepted_as = row.provider_message_id if row is not None else None
            opted_out = row is not None and row.opted_out_at is not None
            claims.append(Claim(item, accepted_as, opted_out))
        return claims

    def _outbound(self, item: OutboxItem) -> OutboundMessage:
        payload = item.payload
        return OutboundMessage(
            message_id=item.message_id,
            idempotency_key=item.idempotency_key,
            channel=item.channel,
            recipient=payload["recipient"],
            conversation_key=payload["conversation_key"],
            text=payload["text"],
            author=payload.get("author", "bot"),
            inquiry_id=payload.get("inquiry_id"),
            options=tuple(payload.get("options") or ()),
            in_reply_to=payload.get("in_reply_to"),
            metadata=payload.get("metadata") or {},
            attempt=max(item.attempts, 1),  # the claim has counted this try
            queued_at=item.created_at,
        )

    async def _deliver(self, claim: Claim) -> None:
        item = claim.item
        try:
            error: SendError | None = None
            channel = self.channels().get(item.channel)
            try:
                result = await self._send(claim, channel)
            except SendError as exc:
                error = exc
            try:
                if error is None:
                    await self.recorder.success(
                        item, result.provider_message_id, result.status, result.sent_at
                    )
                    if channel is not None:
                        channel.send_recorded(result)
                else:
                    await self.recorder.failure(item, error)
            except STORAGE_ERRORS as exc:
                # The row stays claimed; its lease running out makes it due again.
                log.error("outbox item %s: outcome could not be recorded (%s)", item.id, exc)
        finally:
            self._slots.release()

    async def _send(self, claim: Claim, channel: Channel | None) -> SendResult:
        """Send through the item's channel; every failure comes out as a :class:`SendError`."""
        item = claim.item
        if claim.accepted_as is not None:
            return SendResult(provider_message_id=claim.accepted_as)
        message = self._outbound(item)
        if claim.opted_out and not message.metadata.get("control"):
            raise PermanentSendError("recipient opted out", code=OPTED_OUT)
        if channel is None:
            raise SendError(f"channel {item.channel!r} is not running")
        try:
            return await channel.send(message)
        except (SendError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a channel bug must not kill the worker; retried like a network error
            log.exception("channel %s raised unexpectedly on outbox item %s", item.channel, item.id)
            raise SendError(f"unexpected {type(exc).__name__}") from exc
