"""Units of work: a whole transaction run as one call, on SQLite in the database's own thread.

The hot paths (storing inquiries, deciding them, claiming outbox rows, recording outcomes and
delivery receipts) are written as plain synchronous functions of a :class:`~sqlalchemy.orm.Session`
and run with :func:`run_unit`, which commits when the function returns and rolls back when it
raises.

Why: through SQLAlchemy's async layer every statement is a round trip between the event loop and
the driver's thread, and SQLite has one connection (:mod:`gateway.store.db`). Under load the
event loop is busy, each round trip waits for its turn, and the connection sits idle but held for
the whole transaction: throughput collapses while both threads are mostly idle (measured with
py-spy on the SMS benchmark, 2026-12-03). Run on the driver's thread instead, a transaction holds
the connection only while it actually works, and costs the event loop one hand-off.

* **SQLite** (aiosqlite): the unit checks out the engine's only connection, so nothing else uses
  it meanwhile, and runs on aiosqlite's worker thread — the thread that owns the ``sqlite3``
  connection — through a synchronous engine wrapping that very connection. This uses two private
  names of aiosqlite (``Connection._execute``, which queues a call on its thread, and
  ``Connection._conn``); ``pyproject.toml`` bounds aiosqlite's version for that reason, and every
  storage test goes through here.
* **PostgreSQL** (asyncpg): ``AsyncSession.run_sync``, SQLAlchemy's own way to run synchronous
  ORM code on an async connection. Statements still go to asyncpg one by one, but PostgreSQL has a
  connection pool, so a held connection does not stop other transactions.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from gateway.store.db import SessionFactory

T = TypeVar("T")
Work = Callable[[Session], T]

# One synchronous engine per aiosqlite connection (the engine's pool holds just that connection).
_sync_engines: weakref.WeakKeyDictionary[Any, Engine] = weakref.WeakKeyDictionary()


async def run_unit(session_factory: SessionFactory, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction and return its result.

    ``work`` must not keep ORM objects beyond the call expecting lazy loads (they are detached
    once it returns; attributes already loaded stay readable). Database errors propagate as
    SQLAlchemy's exceptions, as with an async session.
    """
    engine = session_factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        async with session_factory() as session, session.begin():
            return await session.run_sync(work)
    async with engine.connect() as connection:  # the only connection: exclusive while we work
        proxied = await connection.get_raw_connection()
        driver = proxied.driver_connection  # aiosqlite.Connection
        result: T = await driver._execute(_run_on_driver_thread, driver, work)
        return result


def _run_on_driver_thread(driver: Any, work: Callable[[Session], T]) -> T:
    engine = _sync_engines.get(driver)
    if engine is None:
        raw = driver._conn  # the sqlite3.Connection, created on (and owned by) this thread
        engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
        _sync_engines[driver] = engine
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return work(session)
