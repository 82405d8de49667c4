"""The async engine and session factory, configured per backend.

SQLite runs in WAL mode (readers never block the writer, see https://sqlite.org/wal.html) with
``synchronous=NORMAL`` — in WAL mode this still survives an application crash (only a power
loss can lose the last transactions) — and a busy timeout so concurrent writers wait instead of
failing. PostgreSQL uses asyncpg with a bounded pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the engine for ``database_url``; makes the SQLite file's directory if needed."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has a single writer anyway, and connections contending for its
        # file lock wait in busy-handler sleeps (tens of ms each); waiting for the pooled
        # connection instead is an asyncio wait that wakes the moment it is free.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: objects stay readable after commit, which the pipeline relies on
    # to answer with ids without another round trip.
    return async_sessionmaker(engine, expire_on_commit=False)
