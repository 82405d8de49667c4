"""Knowledge-base files: read and validate YAML, JSON or CSV (INTERFACE.md, "Knowledge-base files").

YAML and JSON hold one mapping ``{"departments": [...], "entries": [...]}`` (either key may be
absent). CSV holds one record a row with the record's keys as header columns:

* without a ``record_type`` column every row is an entry;
* with a ``record_type`` column each row says ``department`` or ``entry``, and the cells of
  columns that do not belong to that kind of record must be empty;
* list cells (``aliases``, ``questions``, ``keywords``) separate items with ``|``; a literal
  ``|`` or ``\\`` inside an item is written ``\\|`` or ``\\\\``;
* ``phones`` is written ``consult=0999-...|complaint=...``;
* an empty cell means "not given". Files may start with a UTF-8 BOM (spreadsheet exports do).

Validation is strict (required fields, types, known field names, entry kinds, ids unique across
departments *and* entries of every file, department references resolve, dates parse) and
reports every problem at once through :class:`KbValidationError`, one line each naming the file,
the record (index or CSV line, and id) and the field. List items and ids are stripped of
surrounding whitespace; other text is kept as written.

The writer lives in :mod:`responder.kb_dump`; :func:`dump_kb` is re-exported here.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from responder.kb_dump import dump_kb
from responder.kb_fields import DEPARTMENT_FIELDS, ENTRY_FIELDS, FieldError, YamlLoader, type_name
from responder.kb_model import (
    DepartmentRecord,
    EntryRecord,
    KbValidationError,
    KnowledgeBase,
)

__all__ = [
    "FORMATS",
    "KbValidationError",
    "dump_kb",
    "load_kb_files",
    "parse_kb_text",
]

FORMATS: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".csv": "csv"}


# Ids end up in URLs, CLI arguments and a String(120) column: keep them to a safe alphabet.
class _Collector:
    """Gathers records and error lines from every file, then checks cross-record rules."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.departments: list[tuple[DepartmentRecord, str]] = []  # (record, label)
        self.entries: list[tuple[EntryRecord, str]] = []

    def record(self, raw: object, kind: str, label: str, csv_mode: bool = False) -> None:
        """Validate one raw record (a mapping) of ``kind`` department|entry."""
        if not isinstance(raw, dict):
            self.errors.append(f"{label}: must be a mapping of fields, not {type_name(raw)}")
            return
        rid = raw.get("id")
        label = f"{label} (id={str(rid).strip() if isinstance(rid, str) and rid.strip() else '?'})"
        spec = DEPARTMENT_FIELDS if kind == "department" else ENTRY_FIELDS
        values: dict[str, Any] = {}
        ok = True
        for name in raw:
            if name not in spec:
                self.errors.append(f"{label}: field '{name}': unknown field (known: {', '.join(spec)})")
                ok = False
        for name, convert in spec.items():
            try:
                values[name] = convert(raw.get(name), csv_mode)
            except FieldError as exc:
                self.errors.append(f"{label}: field '{name}': {exc}")
                ok = False
        if not ok:
            return
        if kind == "department":
            self.departments.append((DepartmentRecord(**values), label))
        else:
            self.entries.append((EntryRecord(**values), label))

    def mapping_document(self, doc: object, source: str) -> None:
        """A parsed YAML/JSON document: ``{departments: [...], entries: [...]}``."""
        if doc is None:
            return
        if not isinstance(doc, dict):
            self.errors.append(f"{source}: top level must be a mapping with 'departments' and 'entries'")
            return
        for key in doc:
            if key not in ("departments", "entries"):
                self.errors.append(f"{source}: unknown top-level key '{key}' (expected departments, entries)")
        for key, kind in (("departments", "department"), ("entries", "entry")):
            records = doc.get(key)
            if records is None:
                continue
            if not isinstance(records, list):
                self.errors.append(f"{source}: '{key}' must be a list, not {type_name(records)}")
                continue
            for i, raw in enumerate(records):
                self.record(raw, kind, f"{source}: {key}[{i}]")

    def csv_document(self, text: str, source: str) -> None:
        """A CSV file: header row of field names, one record a row (module docstring)."""
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip() for h in next(reader, [])]
        except csv.Error as exc:
            self.errors.append(f"{source}: header: not valid CSV: {exc}")
            return
        if not header:
            return
        known = {"record_type", *DEPARTMENT_FIELDS, *ENTRY_FIELDS}
        bad = [h for h in header if h not in known] + [h for h in set(header) if header.count(h) > 1]
        for name in bad:
            self.errors.append(f"{source}: header: column '{name}' is unknown or repeated")
        if "id" not in header:
            self.errors.append(f"{source}: header: column 'id' is required")
        if bad or "id" not in header:
            return
        typed = "record_type" in header
        line = reader.line_num + 1
        try:
            for row in reader:
                label, line = f"{source}: line {line}", reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) > len(header):
                    self.errors.append(f"{label}: has {len(row)} cells but the header has {len(header)}")
                    continue
                cells = dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
                kind = cells.pop("record_type", "entry").strip() if typed else "entry"
                if kind not in ("department", "entry"):
                    self.errors.append(f"{label}: field 'record_type': must be department or entry")
                    continue
                spec = DEPARTMENT_FIELDS if kind == "department" else ENTRY_FIELDS
                for name in [n for n, v in cells.items() if n not in spec]:
                    if cells.pop(name).strip():
                        rid = cells.get("id", "").strip() or "?"
                        self.errors.append(
                            f"{label} (id={rid}): field '{name}': not a {kind} field (leave the cell empty)"
                        )
                self.record(cells, kind, label, csv_mode=True)
        except csv.Error as exc:
            self.errors.append(f"{source}: line {reader.line_num}: not valid CSV: {exc}")

    def finish(self, known_department_ids: Iterable[str]) -> KnowledgeBase:
        """Check ids and references across all files; raise or return the knowledge base."""
        first: dict[str, str] = {}
        records: list[tuple[DepartmentRecord | EntryRecord, str]] = [*self.departments, *self.entries]
        for record, label in records:
            if record.id in first:
                self.errors.append(f"{label}: field 'id': duplicate id (first used by {first[record.id]})")
            else:
                first[record.id] = label
        dept_ids = {d.id for d, _ in self.departments} | set(known_department_ids)
        for entry, label in self.entries:
            if entry.department is not None and entry.department not in dept_ids:
                what = "an entry, not a department" if entry.department in first else "no such department"
                self.errors.append(f"{label}: field 'department': '{entry.department}' is {what}")
        if self.errors:
            raise KbValidationError(self.errors)
        return KnowledgeBase([d for d, _ in self.departments], [e for e, _ in self.entries])

    def text(self, text: str, fmt: str, source: str) -> None:
        """Parse ``text`` in format ``fmt`` (yaml|json|csv) and validate its records."""
        if fmt == "csv":
            self.csv_document(text, source)
            return
        try:
            doc = json.loads(text) if fmt == "json" else yaml.load(text, Loader=YamlLoader)
        except json.JSONDecodeError as exc:
            self.errors.append(f"{source}: line {exc.lineno}: not valid JSON: {exc.msg}")
            return
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.errors.append(f"{source}: {where}not valid YAML: {problem}")
            return
        self.mapping_document(doc, source)


def parse_kb_text(
    text: str, fmt: str, source: str = "<text>", *, known_department_ids: Iterable[str] = ()
) -> KnowledgeBase:
    """Validate knowledge-base ``text`` in ``fmt`` (``yaml``, ``json`` or ``csv``).

    ``source`` names the text in error messages. Raises :class:`KbValidationError`.
    """
    if fmt not in ("yaml", "json", "csv"):
        raise KbValidationError([f"{source}: unknown format '{fmt}' (expected yaml, json or csv)"])
    collector = _Collector()
    collector.text(text.removeprefix("\ufeff"), fmt, source)
    return collector.finish(known_department_ids)


def load_kb_files(
    paths: Iterable[str | os.PathLike[str]], *, known_department_ids: Iterable[str] = ()
) -> KnowledgeBase:
    """Read and validate knowledge-base files; the format follows the suffix (.yaml/.yml/.json/.csv).

    All files together form one knowledge base: ids must be unique across them, and an entry's
    ``department`` must name a department in one of them or in ``known_department_ids`` (the
    departments already stored, when importing entries alone). Raises :class:`KbValidationError`
    listing every problem; a file that cannot be read is reported the same way.
    """
    collector = _Collector()
    for raw_path in paths:
        path = Path(raw_path)
        source = str(raw_path)
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            collector.errors.append(f"{source}: unknown file type (use .yaml, .yml, .json or .csv)")
            continue
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            collector.errors.append(f"{source}: cannot read: {exc.strerror or exc}")
            continue
        except UnicodeDecodeError as exc:
            collector.errors.append(f"{source}: not UTF-8 text (byte {exc.start})")
            continue
        collector.text(text, fmt, source)
    return collector.finish(known_department_ids)
