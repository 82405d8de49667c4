"""Write a knowledge base in the import shape (YAML, JSON or CSV); see :mod:`responder.kb_files`.

The output is deterministic (records by id, fields in a fixed order) and a round trip through
:func:`responder.kb_files.parse_kb_text` gives back an equal :class:`KnowledgeBase`.
Fields holding their default (empty text, empty list, no date) are left out of YAML and JSON
to keep files short; CSV writes every column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import yaml

from responder.kb_model import DepartmentRecord, EntryRecord, KnowledgeBase

DEPARTMENT_COLUMNS = ("id", "name", "aliases", "phones", "address", "hours", "duties", "email")
ENTRY_COLUMNS = (
    "id", "kind", "department", "title", "questions", "answer", "short_answer", "keywords",
    "review_by", "valid_until",
)  # fmt: skip


def _department_fields(dep: DepartmentRecord) -> dict[str, Any]:
    return {name: getattr(dep, name) for name in DEPARTMENT_COLUMNS}


def _entry_fields(entry: EntryRecord) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in ENTRY_COLUMNS}


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    required = ("id", "name", "kind", "title", "answer")
    return {k: v for k, v in fields.items() if k in required or v not in (None, "", [], {})}


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line text as ``|`` literal blocks, readable by editors of the KB."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style by itself when a block scalar cannot hold the text
    # (trailing spaces, special characters), so the round trip stays exact.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def escape_item(item: str) -> str:
    """Escape one list item for a CSV cell: ``\\`` → ``\\\\``, ``|`` → ``\\|``."""
    return item.replace("\\", "\\\\").replace("|", "\\|")


def split_escaped(cell: str) -> list[str]:
    """Split a CSV list cell on unescaped ``|`` and undo :func:`escape_item`; blank items dropped."""
    items: list[str] = []
    current: list[str] = []
    chars = iter(cell)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, "\\"))
        elif ch == "|":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [item for item in items if item.strip()]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return "|".join(escape_item(f"{k}={v}") for k, v in value.items())
    if isinstance(value, list):
        return "|".join(escape_item(item) for item in value)
    return str(value)


def _dump_csv(kb: KnowledgeBase) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line breaks
    typed = bool(kb.departments)
    columns = list(ENTRY_COLUMNS)
    if typed:
        columns = ["record_type", *columns, *(c for c in DEPARTMENT_COLUMNS if c not in ENTRY_COLUMNS)]
    writer.writerow(columns)
    rows: list[tuple[str, dict[str, Any]]] = [("department", _department_fields(d)) for d in kb.departments]
    rows += [("entry", _entry_fields(e)) for e in kb.entries]
    for record_type, fields in rows:
        fields = {**fields, "record_type": record_type} if typed else fields
        writer.writerow([_csv_cell(fields.get(col)) for col in columns])
    return out.getvalue()


def dump_kb(kb: KnowledgeBase, fmt: str = "yaml") -> str:
    """Return ``kb`` as ``fmt`` (``yaml``, ``json`` or ``csv``) text in the import shape.

    CSV: without departments the file is entries only; with departments it has a
    ``record_type`` column and department rows come first. Raises ValueError for another ``fmt``.
    """
    if fmt == "csv":
        return _dump_csv(kb)
    doc = {
        "departments": [_compact(_department_fields(d)) for d in kb.departments],
        "entries": [_compact(_entry_fields(e)) for e in kb.entries],
    }
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2, default=lambda d: d.isoformat()) + "\n"
    if fmt == "yaml":
        return str(yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100))
    raise ValueError(f"unknown format {fmt!r} (expected yaml, json or csv)")
