"""Fixtures shared by the whole suite."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.databases import BACKENDS, fresh_database

if TYPE_CHECKING:
    from tests.support.live import LiveGateway


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database; every test using it runs once on SQLite and once on PostgreSQL."""
    async with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty SQLite database, for tests whose subject is not storage."""
    async with fresh_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
async def gateway_live(database_url: str) -> AsyncIterator[LiveGateway]:
    """A running gateway with the demo knowledge base, on both database backends."""
    from tests.support.live import live_gateway, settings_for_test

    async with live_gateway(settings_for_test(database_url)) as live:
        yield live


@pytest.fixture(autouse=True)
def _no_unexpected_error_logs(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test during which the gateway logged an ERROR it did not ask for.

    Errors logged by background workers (an outcome that could not be recorded, a decision that
    failed) do not fail the request that caused them; this makes them fail the test instead.
    Tests that provoke errors on purpose carry ``@pytest.mark.allow_error_logs``.
    """
    yield
    if request.node.get_closest_marker("allow_error_logs"):
        return
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.name.startswith(("gateway", "channels", "responder", "normalizer"))
    ]
    assert not errors, f"unexpected error logs: {errors[:3]}"
