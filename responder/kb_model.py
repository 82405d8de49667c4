"""The in-memory knowledge base: plain records shared by the file format, the store and the index.

Departments and entries share one id space (INTERFACE.md, "Knowledge-base files"), so an id
names exactly one record. :class:`KnowledgeBase` keeps both lists sorted by id: two knowledge
bases with the same records compare equal whatever order they were read in, and every export is
deterministic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gateway.errors import BadInput

ENTRY_KINDS: tuple[str, ...] = ("faq", "service", "policy")


class KbValidationError(BadInput):
    """A knowledge-base file (or record) is invalid; nothing was imported.

    ``errors`` holds one line per problem, each naming the file, the record (index and id)
    and the field, e.g. ``kb/x.yaml: entries[3] (id=foo): field 'kind': must be one of ...``.
    The exception's message is those lines joined by newlines.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(slots=True)
class DepartmentRecord:
    """A government department: its contact record, searchable like an entry.

    phones: label → number, e.g. ``{"consult": "0999-...", "complaint": "..."}``.
    """

    id: str
    name: str
    aliases: list[str] = field(default_factory=list)
    phones: dict[str, str] = field(default_factory=dict)
    address: str = ""
    hours: str = ""
    duties: str = ""
    email: str = ""


@dataclass(slots=True)
class EntryRecord:
    """One knowledge-base entry.

    kind: ``faq``, ``service`` or ``policy``. department: the owning department's id, or None.
    questions: phrasings citizens use; answer: the full text; short_answer: an SMS-sized text.
    review_by / valid_until: optional dates (an entry past ``valid_until`` is never answered).
    """

    id: str
    kind: str
    title: str
    answer: str
    department: str | None = None
    questions: list[str] = field(default_factory=list)
    short_answer: str = ""
    keywords: list[str] = field(default_factory=list)
    review_by: dt.date | None = None
    valid_until: dt.date | None = None

    def is_valid_on(self, day: dt.date) -> bool:
        """Whether the entry may be used as an answer on ``day``."""
        return self.valid_until is None or day <= self.valid_until


@dataclass(slots=True)
class KnowledgeBase:
    """All departments and entries. Both lists are kept sorted by id (see module docstring)."""

    departments: list[DepartmentRecord] = field(default_factory=list)
    entries: list[EntryRecord] = field(default_factory=list)
    # Lookup tables built once; treat a KnowledgeBase as immutable after construction.
    _departments_by_id: dict[str, DepartmentRecord] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _entries_by_id: dict[str, EntryRecord] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.departments = sorted(self.departments, key=lambda d: d.id)
        self.entries = sorted(self.entries, key=lambda e: e.id)
        self._departments_by_id = {d.id: d for d in self.departments}
        self._entries_by_id = {e.id: e for e in self.entries}

    def department(self, dep_id: str | None) -> DepartmentRecord | None:
        """The department with id ``dep_id``, or None."""
        return self._departments_by_id.get(dep_id) if dep_id is not None else None

    def entry(self, entry_id: str | None) -> EntryRecord | None:
        """The entry with id ``entry_id``, or None."""
        return self._entries_by_id.get(entry_id) if entry_id is not None else None
