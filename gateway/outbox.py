"""The durable outbox: every reply is a row written in the same transaction as its decision.

Writing (:func:`enqueue_reply`) happens inside the caller's transaction. Delivery is the
:class:`OutboxWorker`'s job:

1. *claim* due rows: ``pending`` rows whose ``next_attempt_at`` has come, and ``sending`` rows
   whose lease expired (their worker died mid-send). On PostgreSQL the candidate SELECT uses
   ``FOR UPDATE SKIP LOCKED`` so several processes share the work without blocking each other;
   the claim itself is a conditional UPDATE, so two claimants can never both win a row.
2. *send* through the channel, at most ``outbox_concurrency`` at once.
3. *record* the outcome: ``sent``; or back to ``pending`` with exponential backoff and jitter
   on a :class:`~gateway.errors.RetryableSendError`; or ``dead`` on a permanent error or after
   ``outbox_max_attempts`` attempts. Dead rows are listed by ``GET /api/v1/outbox?status=dead``.

A committed row wakes the worker at once through :meth:`OutboxWorker.notify` (no polling delay);
a timer still covers retries that fall due and rows written by other processes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from channels.base import Channel, OutboundMessage, SendResult
from gateway.errors import PermanentSendError, SendError
from gateway.liveness import NOTIFY_CHANNEL, Liveness
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store.db import SessionFactory
from gateway.store.models import Conversation, Message, OutboxItem, utcnow

log = logging.getLogger(__name__)

# The Core table: an executemany UPDATE with a WHERE beyond the primary key needs it.
MESSAGES = cast(Table, Message.__table__)
IDLE_RECHECK_SECONDS = 5.0  # upper bound on how late a due retry (or a missed NOTIFY) is seen
DEAD_WORKER_SWEEP_SECONDS = 30.0  # how often rows of workers that died are looked for
STORAGE_ERRORS = (SQLAlchemyError, OSError)
# Recording an outcome is retried this often before giving up: after a successful send, failing
# to record it would let the lease expire and send the reply a second time.
RECORD_ATTEMPTS = 6


async def enqueue_reply(
    session: AsyncSession,
    conversation: Conversation,
    text: str,
    *,
    author: str,
    recipient: str,
    in_reply_to: Message | None = None,
    author_user_id: int | None = None,
    options: list[dict[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Add an outbound message and its outbox row to ``session`` (the caller commits; the
    message's ``id`` is set by the flush that commit performs).

    ``idempotency_key`` defaults to a fresh UUID; callers that may be retried (an API client
    sending ``Idempotency-Key``) pass their own, and the unique constraint refuses a second copy.
    """
    message = Message(
        conversation_id=conversation.id,
        channel=conversation.channel,
        direction="out",
        author=author,
        author_user_id=author_user_id,
        text=text,
        state="pending",
        in_reply_to_id=in_reply_to.id if in_reply_to is not None else None,
        extra={"options": options or []},
    )
    payload = {
        "recipient": recipient,
        "conversation_key": conversation.key,
        "text": text,
        "author": author,
        "inquiry_id": in_reply_to.id if in_reply_to is not None else None,
        "options": options or [],
        "in_reply_to": in_reply_to.provider_message_id if in_reply_to is not None else None,
        "metadata": dict(metadata or {}),
    }
    # No flush here: the unit of work inserts the message first (it knows the outbox row needs
    # its id), so the replies of a whole batch of decisions go out in one multi-row INSERT.
    session.add(
        OutboxItem(
            message=message,
            channel=conversation.channel,
            idempotency_key=idempotency_key or uuid.uuid4().hex,
            payload=payload,
        )
    )
    conversation.last_message_at = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # Delivered to listeners when this transaction commits, and only then (NOTIFY semantics).
        await session.execute(sql_text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return message


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): exponential with jitter.

    "Equal jitter" (uniform between half the exponential bound and the bound, as in the AWS
    Architecture Blog's "Exponential Backoff And Jitter") spreads the retries of many failed sends
    so they do not hit a recovering provider at the same instant, yet never retries at once.
    """
    bound = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(bound / 2, bound)


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
        # Outcomes (sent, retry scheduled, dead) recorded so far, with a condition to wait on them.
        self.outcomes_recorded = 0
        self.idle = asyncio.Event()  # set while the worker waits for a wake-up (nothing due)
        self._successes: list[tuple[OutboxItem, str | None, str, dt.datetime, asyncio.Future[None]]] = []
        self.outcome = asyncio.Condition()

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
        for item in claimed:
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver(item))
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
            await asyncio.gather(*(self._deliver_with_slot(item) for item in claimed))

    def _batch_size(self) -> int:
        return self.settings.outbox_concurrency * 2

    async def _deliver_with_slot(self, item: OutboxItem) -> None:
        await self._slots.acquire()
        await self._deliver(item)

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

    async def _claim_batch(self) -> list[OutboxItem]:
        now = utcnow()
        due = or_(
            and_(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now),
            and_(OutboxItem.status == "sending", OutboxItem.lease_until < now),
        )
        lease_until = now + dt.timedelta(seconds=self.settings.outbox_lease_seconds)
        async with self.session_factory() as session, session.begin():
            candidates = select(OutboxItem.id).where(due).order_by(OutboxItem.id).limit(self._batch_size())
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            # One statement claims the batch; repeating ``due`` in the UPDATE makes the claim safe
            # even where the candidate SELECT takes no row locks (SQLite serialises writers instead).
            result = await session.scalars(
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
        return claimed

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
        )

    async def _deliver(self, item: OutboxItem) -> None:
        try:
            error: SendError | None = None
            try:
                result = await self._send(item)
            except SendError as exc:
                error = exc
            try:
                if error is None:
                    await self._record_success(
                        item, result.provider_message_id, result.status, result.sent_at
                    )
                else:
                    await self._record_failure(item, error)
            except STORAGE_ERRORS as exc:
                # The row stays claimed; its lease running out makes it due again.
                log.error("outbox item %s: outcome could not be recorded (%s)", item.id, exc)
        finally:
            self._slots.release()

    async def _send(self, item: OutboxItem) -> SendResult:
        """Send through the item's channel; every failure comes out as a :class:`SendError`."""
        channel = self.channels().get(item.channel)
        if channel is None:
            raise SendError(f"channel {item.channel!r} is not running")
        try:
            return await channel.send(self._outbound(item))
        except (SendError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a channel bug must not kill the worker; retried like a network error
            log.exception("channel %s raised unexpectedly on outbox item %s", item.channel, item.id)
            raise SendError(f"unexpected {type(exc).__name__}") from exc

    async def _persist_outcome(self, write: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Run ``write`` in a transaction, retrying through a short database outage."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                async with self.session_factory() as session, session.begin():
                    await write(session)
                return
            except STORAGE_ERRORS:
                if attempt == RECORD_ATTEMPTS:
                    raise
                await asyncio.sleep(backoff_delay(attempt, 0.25, 5.0))

    async def _record_success(
        self, item: OutboxItem, provider_id: str | None, status: str, sent_at: dt.datetime
    ) -> None:
        """Record a successful send. Successes finishing together share one transaction (group
        commit): under load that turns one commit per reply into one per burst."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._successes.append((item, provider_id, status, sent_at, done))
        if len(self._successes) == 1:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._flush_successes()))
        await done
        self.metrics.outbound_sent.labels(channel=item.channel).inc()
        await self._announce_outcome()

    async def _flush_successes(self) -> None:
        batch, self._successes = self._successes, []

        async def write(session: AsyncSession) -> None:
            await session.execute(
                update(OutboxItem),
                [
                    {
                        "id": item.id,
                        "status": "sent",
                        "finished_at": sent_at,
                        "provider_message_id": provider_id,
                        "lease_until": None,
                        "last_error": None,
                        "last_error_code": None,
                    }
                    for item, provider_id, _, sent_at, _ in batch
                ],
            )
            # Only a message still waiting takes the send's state: a delivery receipt that
            # raced ahead (Twilio's "delivered" callback) must not be overwritten with "sent".
            await session.execute(
                update(MESSAGES)
                .where(
                    Message.id == bindparam("b_id"),
                    or_(Message.state == "pending", Message.state == "sending"),
                )
                .values(state=bindparam("b_state")),
                [{"b_id": item.message_id, "b_state": status} for item, _, status, _, _ in batch],
            )
            await session.execute(
                update(MESSAGES)
                .where(Message.id == bindparam("b_id"))
                .values(provider_message_id=bindparam("b_provider_id")),
                [
                    {"b_id": item.message_id, "b_provider_id": provider_id}
                    for item, provider_id, _, _, _ in batch
                ],
            )

        try:
            await self._persist_outcome(write)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting sender, which decides
            for *_, done in batch:
                done.set_exception(exc)
            return
        for *_, done in batch:
            done.set_result(None)

    async def _announce_outcome(self) -> None:
        async with self.outcome:
            self.outcomes_recorded += 1
            self.outcome.notify_all()

    async def _record_failure(self, item: OutboxItem, error: SendError) -> None:
        # A plain SendError (channel missing, unexpected exception) is treated as retryable:
        # only an explicit PermanentSendError gives up before max_attempts.
        permanent = isinstance(error, PermanentSendError)
        dead = permanent or item.attempts >= self.settings.outbox_max_attempts
        values: dict[str, Any] = {
            "last_error": error.reason[:500],
            "last_error_code": error.code,
            "lease_until": None,
        }
        if dead:
            values.update(status="dead", finished_at=utcnow())
        else:
            delay = backoff_delay(
                item.attempts,
                self.settings.outbox_backoff_base_seconds,
                self.settings.outbox_backoff_max_seconds,
            )
            values.update(status="pending", next_attempt_at=utcnow() + dt.timedelta(seconds=delay))

        async def write(session: AsyncSession) -> None:
            await session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(**values))
            if dead:
                await session.execute(
                    update(Message)
                    .where(Message.id == item.message_id)
                    .values(state="failed", error_code=error.code, error_reason=error.reason[:500])
                )

        await self._persist_outcome(write)
        kind = "dead" if dead else "retry"
        if not dead:
            self.notify()  # re-plan the worker's sleep: the retry may fall due before its current wake-up
        self.metrics.send_failures.labels(channel=item.channel, kind=kind).inc()
        await self._announce_outcome()
        log.warning(
            "outbox item %s on %s failed (%s, attempt %s): %s",
            item.id,
            item.channel,
            kind,
            item.attempts,
            error,
        )
