"""Recording what became of each send: sent, retry later, or dead.

Successes that finish together share one transaction (group commit); every write is retried
through a short database outage, because failing to record a successful send would let its lease
expire and send the reply a second time. Each recorded outcome bumps a counter under a condition,
which the worker's observers (tests, drain) can wait on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, update
from sqlalchemy.orm import Session

from gateway.errors import PermanentSendError, SendError
from gateway.metrics import Metrics
from gateway.retry import STORAGE_ERRORS, backoff_delay
from gateway.settings import Settings
from gateway.store.db import SessionFactory
from gateway.store.models import Message, OutboxItem, utcnow
from gateway.store.units import run_unit

log = logging.getLogger(__name__)

# The Core table: an executemany UPDATE with a WHERE beyond the primary key needs it.
MESSAGES = cast(Table, Message.__table__)
RECORD_ATTEMPTS = 6


class OutcomeRecorder:
    """Writes send outcomes to the outbox and message rows; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        metrics: Metrics,
        on_retry_scheduled: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.metrics = metrics
        self.on_retry_scheduled = on_retry_scheduled
        self.outcomes_recorded = 0
        self.outcome = asyncio.Condition()
        self._successes: list[tuple[OutboxItem, str | None, str, dt.datetime, asyncio.Future[None]]] = []

    async def _persist(self, write: Callable[[Session], None]) -> None:
        """Run ``write`` in a transaction, retrying through a short database outage."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                await run_unit(self.session_factory, write)
                return
            except STORAGE_ERRORS:
                if attempt == RECORD_ATTEMPTS:
                    raise
                await asyncio.sleep(backoff_delay(attempt, 0.25, 5.0))

    async def success(
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
        await self._announce()

    async def _flush_successes(self) -> None:
        batch, self._successes = self._successes, []

        def write(session: Session) -> None:
            session.execute(
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
            session.execute(
                update(MESSAGES)
                .where(
                    Message.id == bindparam("b_id"),
                    or_(Message.state == "pending", Message.state == "sending"),
                )
                .values(state=bindparam("b_state")),
                [{"b_id": item.message_id, "b_state": status} for item, _, status, _, _ in batch],
            )
            session.execute(
                update(MESSAGES)
                .where(Message.id == bindparam("b_id"))
                .values(provider_message_id=bindparam("b_provider_id")),
                [
                    {"b_id": item.message_id, "b_provider_id": provider_id}
                    for item, provider_id, _, _, _ in batch
                ],
            )

        try:
            await self._persist(write)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting sender, which decides
            for *_, done in batch:
                done.set_exception(exc)
            return
        for *_, done in batch:
            done.set_result(None)

    async def _announce(self) -> None:
        async with self.outcome:
            self.outcomes_recorded += 1
            self.outcome.notify_all()

    async def failure(self, item: OutboxItem, error: SendError) -> None:
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

        def write(session: Session) -> None:
            session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(**values))
            if dead:
                session.execute(
                    update(Message)
                    .where(Message.id == item.message_id)
                    .values(state="failed", error_code=error.code, error_reason=error.reason[:500])
                )

        await self._persist(write)
        kind = "dead" if dead else "retry"
        if not dead:
            self.on_retry_scheduled()  # the retry may fall due before the worker's planned wake-up
        self.metrics.send_failures.labels(channel=item.channel, kind=kind).inc()
        await self._announce()
        log.warning(
            "outbox item %s on %s failed (%s, attempt %s): %s",
            item.id,
            item.channel,
            kind,
            item.attempts,
            error,
        )
