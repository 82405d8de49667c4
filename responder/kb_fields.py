"""Field validators of knowledge-base records (used by :mod:`responder.kb_files`).

Each converter takes the raw value of one field (from YAML, JSON or a CSV cell) and returns the
typed value or raises :class:`FieldError` with a message that completes
"<file>: <record>: field '<name>': ...".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import yaml

from responder.kb_dump import split_escaped
from responder.kb_model import ENTRY_KINDS

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")
_PHONE_LABEL_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as text: the field validators parse dates and report
    bad ones (PyYAML itself raises a bare ValueError on 2027-13-01)."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class FieldError(Exception):
    """One field's problem; the caller adds file, record and field names."""


def type_name(value: object) -> str:
    """How to name the type of ``value`` in an error message."""
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _text(value: object, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise FieldError("is required")
        return ""
    if not isinstance(value, str):
        # YAML turns unquoted 8:30 or 12345 into numbers: say what to do about it.
        raise FieldError(f"must be text, not {type_name(value)} (quote it)")
    if required and not value.strip():
        raise FieldError("must not be blank")
    return value


def _ident(value: object) -> str:
    text = _text(value, required=True).strip()
    if not _ID_RE.fullmatch(text):
        raise FieldError("must be 1-120 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")
    return text


def _str_list(value: object, csv_cell: bool) -> list[str]:
    if value is None or value == "":
        return []
    if csv_cell and isinstance(value, str):
        value = split_escaped(value)
    if not isinstance(value, list):
        raise FieldError(f"must be a list of text, not {type_name(value)}")
    items: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise FieldError(f"item {i} must be text, not {type_name(item)} (quote it)")
        if not item.strip():
            raise FieldError(f"item {i} must not be blank")
        items.append(item.strip())
    return items


def _phones(value: object, csv_cell: bool) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if csv_cell and isinstance(value, str):
        pairs: dict[str, str] = {}
        for item in split_escaped(value):
            label, sep, number = item.partition("=")
            if not sep:
                raise FieldError(f"item {item!r} must be written label=number")
            pairs[label.strip()] = number
        value = pairs
    if not isinstance(value, dict):
        raise FieldError(f"must be a mapping of label to number, not {type_name(value)}")
    phones: dict[str, str] = {}
    for label, number in value.items():
        if not isinstance(label, str) or not _PHONE_LABEL_RE.fullmatch(label.strip()):
            raise FieldError(f"label {label!r} must be 1-40 characters of A-Z a-z 0-9 _ -")
        if not isinstance(number, str) or not number.strip():
            raise FieldError(f"'{label}' must be non-empty text (quote numbers)")
        phones[label.strip()] = number.strip()
    return phones


def _date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        raise FieldError("must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
        try:
            dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            raise FieldError("must be a date (YYYY-MM-DD), not a date and time")
    raise FieldError(f"must be a date YYYY-MM-DD, got {value!r}")


def _kind(value: object) -> str:
    text = _text(value, required=True).strip()
    if text not in ENTRY_KINDS:
        raise FieldError(f"must be one of {', '.join(ENTRY_KINDS)}")
    return text


def _reference(value: object) -> str | None:
    if value is None or value == "":
        return None
    return _ident(value)


_Converter = Callable[[object, bool], Any]
DEPARTMENT_FIELDS: dict[str, _Converter] = {
    "id": lambda v, c: _ident(v),
    "name": lambda v, c: _text(v, True),
    "aliases": _str_list,
    "phones": _phones,
    "address": lambda v, c: _text(v, False),
    "hours": lambda v, c: _text(v, False),
    "duties": lambda v, c: _text(v, False),
    "email": lambda v, c: _text(v, False).strip(),
}
ENTRY_FIELDS: dict[str, _Converter] = {
    "id": lambda v, c: _ident(v),
    "kind": lambda v, c: _kind(v),
    "department": lambda v, c: _reference(v),
    "title": lambda v, c: _text(v, True),
    "questions": _str_list,
    "answer": lambda v, c: _text(v, True),
    "short_answer": lambda v, c: _text(v, False),
    "keywords": _str_list,
    "review_by": lambda v, c: _date(v),
    "valid_until": lambda v, c: _date(v),
}
