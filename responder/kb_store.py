"""Persist the knowledge base with the models of :mod:`gateway.store.models`.

:func:`import_kb` upserts in the caller's transaction (the caller commits, so an import that
fails half-way changes nothing). Entries keep a history: every content change bumps
``KnowledgeEntry.version`` and stores a :class:`KnowledgeEntryVersion` snapshot; a new entry
gets version 1 and its first snapshot. Importing the same files twice changes nothing at all,
not even ``KnowledgeBaseState.revision`` — the counter other processes watch to reload their
index — which moves only when something changed.

Import is an upsert: records missing from the files are kept (importing one file of entries
must not wipe the others).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import Department, KnowledgeBaseState, KnowledgeEntry, KnowledgeEntryVersion, utcnow
from responder.kb_dump import DEPARTMENT_COLUMNS
from responder.kb_model import DepartmentRecord, EntryRecord, KbValidationError, KnowledgeBase

_STATE_ID = 1
# Entry fields whose change makes a new version (everything but the id).
_ENTRY_CONTENT = (
    "kind", "department", "title", "questions", "answer", "short_answer", "keywords", "review_by", "valid_until",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What :func:`import_kb` did. ``revision`` is the knowledge-base revision after the import."""

    departments_created: int = 0
    departments_updated: int = 0
    departments_unchanged: int = 0
    entries_created: int = 0
    entries_updated: int = 0
    entries_unchanged: int = 0
    revision: int = 0

    @property
    def created(self) -> int:
        return self.departments_created + self.entries_created

    @property
    def updated(self) -> int:
        return self.departments_updated + self.entries_updated

    @property
    def unchanged(self) -> int:
        return self.departments_unchanged + self.entries_unchanged

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _department_values(dep: DepartmentRecord) -> dict[str, Any]:
    return {name: getattr(dep, name) for name in DEPARTMENT_COLUMNS if name != "id"}


def _entry_values(entry: EntryRecord) -> dict[str, Any]:
    values = {name: getattr(entry, name) for name in _ENTRY_CONTENT}
    values["department_id"] = values.pop("department")
    return values


def _row_values(row: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def _snapshot(entry: EntryRecord) -> dict[str, Any]:
    """JSON-ready copy of an entry's content (dates as ISO strings)."""
    snap: dict[str, Any] = {"id": entry.id}
    for name in _ENTRY_CONTENT:
        value = getattr(entry, name)
        snap[name] = value.isoformat() if isinstance(value, dt.date) else value
    return snap


async def _state(session: AsyncSession) -> KnowledgeBaseState:
    # FOR UPDATE (PostgreSQL) serialises concurrent imports on the counter; SQLite ignores it.
    state = await session.get(KnowledgeBaseState, _STATE_ID, with_for_update=True)
    if state is None:
        state = KnowledgeBaseState(id=_STATE_ID, revision=0)
        session.add(state)
    return state


async def import_kb(session: AsyncSession, kb: KnowledgeBase, changed_by: str = "import") -> ImportReport:
    """Upsert ``kb`` into the database within the caller's transaction (the caller commits).

    Raises :class:`KbValidationError` (nothing written) when an entry names a department that is
    neither in ``kb`` nor already stored.
    """
    stored_deps = {d.id: d for d in (await session.scalars(select(Department))).all()}
    known = set(stored_deps) | {d.id for d in kb.departments}
    bad = [e for e in kb.entries if e.department is not None and e.department not in known]
    if bad:
        raise KbValidationError(
            [f"entries (id={e.id}): field 'department': '{e.department}' is no such department" for e in bad]
        )
    now = utcnow()
    counts = dict.fromkeys(("dc", "du", "dn", "ec", "eu", "en"), 0)
    for dep in kb.departments:
        values = _department_values(dep)
        row = stored_deps.get(dep.id)
        if row is None:
            session.add(Department(id=dep.id, updated_at=now, **values))
            counts["dc"] += 1
        elif _row_values(row, list(values)) != values:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            counts["du"] += 1
        else:
            counts["dn"] += 1
    # Departments first: entries reference them and there is no ORM relationship to order the flush.
    await session.flush()
    stored_entries = {e.id: e for e in (await session.scalars(select(KnowledgeEntry))).all()}
    for entry in kb.entries:
        values = _entry_values(entry)
        stored = stored_entries.get(entry.id)
        if stored is None:
            session.add(KnowledgeEntry(id=entry.id, version=1, updated_at=now, **values))
            version = 1
            counts["ec"] += 1
        elif _row_values(stored, list(values)) != values:
            for name, value in values.items():
                setattr(stored, name, value)
            stored.version += 1
            stored.updated_at = now
            version = stored.version
            counts["eu"] += 1
        else:
            counts["en"] += 1
            continue
        session.add(
            KnowledgeEntryVersion(
                entry_id=entry.id,
                version=version,
                snapshot=_snapshot(entry),
                changed_by=changed_by,
                changed_at=now,
            )
        )
    state = await _state(session)
    if counts["dc"] or counts["du"] or counts["ec"] or counts["eu"]:
        state.revision += 1
        state.updated_at = now
    await session.flush()
    return ImportReport(
        counts["dc"], counts["du"], counts["dn"], counts["ec"], counts["eu"], counts["en"], state.revision
    )


async def load_kb(session: AsyncSession) -> KnowledgeBase:
    """The whole stored knowledge base (current versions)."""
    deps = (await session.scalars(select(Department))).all()
    entries = (await session.scalars(select(KnowledgeEntry))).all()
    return KnowledgeBase(
        [
            DepartmentRecord(
                id=d.id,
                name=d.name,
                aliases=list(d.aliases or []),
                phones=dict(d.phones or {}),
                address=d.address,
                hours=d.hours,
                duties=d.duties,
                email=d.email,
            )
            for d in deps
        ],
        [
            EntryRecord(
                id=e.id,
                kind=e.kind,
                title=e.title,
                answer=e.answer,
                department=e.department_id,
                questions=list(e.questions or []),
                short_answer=e.short_answer,
                keywords=list(e.keywords or []),
                review_by=e.review_by,
                valid_until=e.valid_until,
            )
            for e in entries
        ],
    )


async def kb_revision(session: AsyncSession) -> int:
    """The knowledge-base revision counter (0 before the first import)."""
    state = await session.get(KnowledgeBaseState, _STATE_ID)
    return state.revision if state is not None else 0
