"""Test databases on both backends: a fresh SQLite file, or a fresh PostgreSQL database.

PostgreSQL is the server already running on this machine (``GATEWAY_TEST_POSTGRES_URL``,
default the local cluster on 127.0.0.1:5432 as user ``postgres``). Each test gets its own
database, created from scratch and dropped afterwards. When the server cannot be reached the
PostgreSQL leg is skipped with the reason, unless ``GATEWAY_TEST_REQUIRE_POSTGRES`` is set (CI),
where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """Yield the SQLAlchemy URL of an empty database of ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL not reachable at {make_url(ADMIN_URL).render_as_string()}: {exc}"
        if os.environ.get("GATEWAY_TEST_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message + " (set GATEWAY_TEST_POSTGRES_URL or start a server)")
    name = f"gateway_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
