"""Fixtures of the responder tests: the demo knowledge base, its index, and a database session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.store.models import Base
from responder.index import SearchIndex
from responder.kb_files import load_kb_files
from responder.kb_model import KnowledgeBase
from tests.support.paths import DEMO_KB


@pytest.fixture(scope="session")
def demo_kb() -> KnowledgeBase:
    """The demo knowledge base of config/kb/, validated."""
    return load_kb_files(DEMO_KB)


@pytest.fixture(scope="session")
def demo_index(demo_kb: KnowledgeBase) -> SearchIndex:
    """The demo knowledge base's index, built once per session (jieba loads once)."""
    return SearchIndex.build(demo_kb)


@pytest.fixture
async def session_factory(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on an empty database with the schema created from the models.

    Built on ``sqlite_url``; switching to the suite's ``database_url`` runs these tests on
    PostgreSQL as well.
    """
    engine = create_async_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


@pytest.fixture
async def db_session(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session on an empty database; the test commits what it wants to keep."""
    async with session_factory() as session:
        yield session
