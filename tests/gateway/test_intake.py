"""Group-committed intake: many inquiries arriving at once are stored once each, duplicates found."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from gateway.intake import Intake
from gateway.store.db import create_engine, create_session_factory
from gateway.store.migrate import upgrade_to_head
from gateway.store.models import Blob, Contact, Conversation, Message
from normalizer import Attachment, Inquiry


@pytest.fixture
async def intake(database_url: str) -> AsyncIterator[Intake]:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    yield Intake(create_session_factory(engine))
    await engine.dispose()


def inquiry(n: int, sender: str, *, provider_id: str | None = None, **extra: object) -> Inquiry:
    return Inquiry(channel="sms", sender=sender, conversation_key=f"{sender}|+8699", text=f"问题 {n}",
                   provider_message_id=provider_id or f"SM{n:032d}", **extra)  # type: ignore[arg-type]


async def count(intake: Intake, model: type) -> int:
    async with intake.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_burst_is_stored_once_each_with_duplicates_flagged(intake: Intake) -> None:
    first = await intake.persist(inquiry(0, "+861"))  # stored before the burst
    burst = [inquiry(n, f"+86{n % 7}") for n in range(1, 120)]
    burst += [inquiry(0, "+861"), inquiry(5, "+865"), inquiry(5, "+865")]  # earlier copy, and twice in the burst
    results = await asyncio.gather(*(intake.persist(i) for i in burst))

    assert results[-3] == (first[0], True)
    fresh_ids = [r[0] for r in results[:119]]
    assert len(set(fresh_ids)) == 119 and not any(r[1] for r in results[:119])
    assert results[-2] == (fresh_ids[4], True) and results[-1] == (fresh_ids[4], True)
    assert await count(intake, Message) == 120
    assert await count(intake, Contact) == 7
    assert await count(intake, Conversation) == 7
    async with intake.session_factory() as session:
        stored = await session.get(Message, fresh_ids[41])
    assert stored is not None and stored.text == "问题 42" and stored.state == "received"


async def test_attachments_and_raw_source_are_stored_with_their_message(intake: Intake) -> None:
    with_files = inquiry(1, "+8613", attachments=(Attachment("a.png", "image/png", b"\x89PNG..."),),
                         raw_source=b"From: x\r\n\r\nhi")
    results = await asyncio.gather(intake.persist(with_files), intake.persist(inquiry(2, "+8614")))
    async with intake.session_factory() as session:
        blobs = list(await session.scalars(select(Blob).order_by(Blob.kind)))
    assert [(b.message_id, b.kind, b.data) for b in blobs] == [
        (results[0][0], "attachment", b"\x89PNG..."), (results[0][0], "raw", b"From: x\r\n\r\nhi")]
