"""Knowing whether the worker that claimed an outbox row is still alive.

A worker that dies mid-send leaves its rows in ``sending``. Waiting for their lease to run out
would delay those replies by minutes, so instead:

* On PostgreSQL each worker holds a session-level advisory lock named after its id on a
  connection it keeps open for its lifetime (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).
  The server drops the lock the moment that connection dies, so another worker that can take the
  lock knows the owner is gone and may release its rows at once.
* SQLite is the embedded, single-process mode: no other process can hold a claim, so at start-up
  every ``sending`` row belongs to a dead predecessor.

The lease stays as the last resort (a worker alive but stuck).

The same long-lived PostgreSQL connection LISTENs on :data:`NOTIFY_CHANNEL`, so a reply
committed by another process (an operator's, through another API node) wakes this worker at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.models import OutboxItem

log = logging.getLogger(__name__)

# First key of the two-key advisory lock form: a namespace so we never collide with other users
# of advisory locks in the same database ("SG" for Sunshine Gateway).
_LOCK_NAMESPACE = 0x5347
NOTIFY_CHANNEL = "gateway_outbox"


def _lock_key(worker_id: str) -> int:
    return int.from_bytes(hashlib.sha256(worker_id.encode()).digest()[:4], "big", signed=True)


class Liveness:
    """Advertises this worker as alive and releases rows of workers that are not."""

    def __init__(self, engine: AsyncEngine, worker_id: str, on_notify: Callable[[], None]) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.on_notify = on_notify
        self._held: AsyncConnection | None = None

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def start(self) -> None:
        """Take this worker's lock (PostgreSQL), then release every dead worker's rows."""
        if self._postgres:
            self._held = await self.engine.connect()
            await self._held.execute(
                text("SELECT pg_advisory_lock(:ns, :key)"),
                {"ns": _LOCK_NAMESPACE, "key": _lock_key(self.worker_id)},
            )
            await self._held.commit()
            raw = await self._held.get_raw_connection()
            driver = raw.driver_connection  # the asyncpg connection under SQLAlchemy's adapter
            assert driver is not None
            await driver.add_listener(NOTIFY_CHANNEL, self._notified)
        await self.release_dead_claims()

    def _notified(self, *_args: Any) -> None:
        self.on_notify()

    async def stop(self) -> None:
        if self._held is not None:
            await self._held.close()  # closing the connection drops the lock
            self._held = None

    async def release_dead_claims(self) -> int:
        """Put rows claimed by dead workers back to ``pending``; return how many."""
        released = 0
        async with self.engine.connect() as connection:
            owners = set(
                await connection.scalars(
                    select(OutboxItem.claimed_by)
                    .where(OutboxItem.status == "sending", OutboxItem.claimed_by != self.worker_id)
                    .distinct()
                )
            )
            for owner in owners:
                if owner is None or not await self._is_dead(connection, owner):
                    continue
                result = await connection.execute(
                    update(OutboxItem)
                    .where(OutboxItem.status == "sending", OutboxItem.claimed_by == owner)
                    .values(status="pending", lease_until=None, claimed_by=None)
                )
                released += result.rowcount
                await self._forget(connection, owner)
            await connection.commit()
        if released:
            log.warning("released %d outbox rows claimed by workers that died", released)
        return released

    async def _is_dead(self, connection: AsyncConnection, owner: str) -> bool:
        if not self._postgres:
            return True  # single-process SQLite: any other claimant is a dead predecessor
        taken = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": _LOCK_NAMESPACE, "key": _lock_key(owner)}
        )
        return bool(taken)

    async def _forget(self, connection: AsyncConnection, owner: str) -> None:
        if self._postgres:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": _LOCK_NAMESPACE, "key": _lock_key(owner)}
            )
