"""Knowledge-base persistence: import, versioning, idempotency, revision counter, reload."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.models import KnowledgeEntry, KnowledgeEntryVersion
from responder.kb_model import KbValidationError, KnowledgeBase
from responder.kb_store import import_kb, kb_revision, load_kb
from responder.service import Responder, as_json


async def test_import_then_load_gives_the_same_knowledge_base(
    db_session: AsyncSession, demo_kb: KnowledgeBase
) -> None:
    assert await kb_revision(db_session) == 0
    report = await import_kb(db_session, demo_kb)
    await db_session.commit()
    assert (report.departments_created, report.entries_created) == (
        len(demo_kb.departments),
        len(demo_kb.entries),
    )
    assert report.updated == 0 and report.unchanged == 0
    assert report.revision == 1 == await kb_revision(db_session)
    assert await load_kb(db_session) == demo_kb
    versions = await db_session.scalar(select(func.count()).select_from(KnowledgeEntryVersion))
    assert versions == len(demo_kb.entries)


async def test_reimport_is_idempotent(db_session: AsyncSession, demo_kb: KnowledgeBase) -> None:
    await import_kb(db_session, demo_kb)
    await db_session.commit()
    report = await import_kb(db_session, demo_kb, changed_by="again")
    await db_session.commit()
    assert report.changed is False
    assert report.unchanged == len(demo_kb.departments) + len(demo_kb.entries)
    assert report.revision == 1 == await kb_revision(db_session)
    versions = await db_session.scalar(select(func.count()).select_from(KnowledgeEntryVersion))
    assert versions == len(demo_kb.entries)


async def test_changed_entry_gets_a_new_version_and_snapshot(
    db_session: AsyncSession, demo_kb: KnowledgeBase
) -> None:
    await import_kb(db_session, demo_kb)
    await db_session.commit()
    target = demo_kb.entries[0]
    edited = dataclasses.replace(
        target, answer=target.answer + "\n（已更新）", keywords=[*target.keywords, "新词"]
    )
    dep = dataclasses.replace(demo_kb.departments[0], hours="周一至周日 9:00-17:00")
    kb = KnowledgeBase([dep, *demo_kb.departments[1:]], [edited, *demo_kb.entries[1:]])
    report = await import_kb(db_session, kb, changed_by="editor")
    await db_session.commit()
    assert (report.entries_updated, report.entries_unchanged) == (1, len(demo_kb.entries) - 1)
    assert (report.departments_updated, report.departments_created) == (1, 0)
    assert report.revision == 2
    row = await db_session.get(KnowledgeEntry, target.id)
    assert row is not None and row.version == 2 and row.answer.endswith("（已更新）")
    snaps = (
        await db_session.scalars(
            select(KnowledgeEntryVersion).where(KnowledgeEntryVersion.entry_id == target.id)
            .order_by(KnowledgeEntryVersion.version)
        )
    ).all()  # fmt: skip
    assert [(s.version, s.changed_by) for s in snaps] == [(1, "import"), (2, "editor")]
    assert snaps[0].snapshot["answer"] == target.answer
    assert snaps[1].snapshot["keywords"][-1] == "新词"
    assert await load_kb(db_session) == kb


async def test_import_keeps_records_missing_from_the_files(
    db_session: AsyncSession, demo_kb: KnowledgeBase
) -> None:
    await import_kb(db_session, demo_kb)
    await db_session.commit()
    report = await import_kb(db_session, KnowledgeBase([], demo_kb.entries[:2]))
    await db_session.commit()
    assert report.unchanged == 2
    assert await load_kb(db_session) == demo_kb


async def test_entry_naming_an_unknown_department_imports_nothing(
    db_session: AsyncSession, demo_kb: KnowledgeBase
) -> None:
    orphan = dataclasses.replace(demo_kb.entries[0], department="no-such-department")
    with pytest.raises(KbValidationError, match=f"id={orphan.id}.*field 'department'"):
        await import_kb(db_session, KnowledgeBase([], [orphan]))
    await db_session.rollback()
    assert await load_kb(db_session) == KnowledgeBase()


async def test_responder_reloads_only_when_the_revision_moves(
    session_factory: async_sessionmaker[AsyncSession], demo_kb: KnowledgeBase
) -> None:
    responder = Responder()
    assert responder.decide("身份证丢了怎么办").decision == "queue"  # nothing loaded yet
    assert await responder.reload(session_factory) is True  # first load, even of an empty KB
    assert await responder.reload(session_factory) is False
    async with session_factory() as session:
        await import_kb(session, demo_kb)
        await session.commit()
    assert await responder.reload(session_factory) is True
    assert responder.revision == 1 and responder.kb == demo_kb
    result = as_json(responder.decide("身份证丢了怎么办"))
    assert (result["decision"], result["id"], result["kind"]) == ("answer", "idcard-lost", "service")
