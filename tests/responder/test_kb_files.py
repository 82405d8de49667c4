"""Knowledge-base files: validation errors name file, record and field; round trips change nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest

from gateway.errors import BadInput
from responder.kb_files import KbValidationError, dump_kb, load_kb_files, parse_kb_text
from responder.kb_model import DepartmentRecord, EntryRecord, KnowledgeBase

VALID_YAML = """\
departments:
  - id: dep-a
    name: 甲局
    phones: {consult: "0999-55500000"}
entries:
  - id: e1
    kind: faq
    department: dep-a
    title: 标题一
    answer: 答案一
"""

# (file name, content, expected error line after "<path>: ")
INVALID_FILES = [
    ("x.yaml", VALID_YAML + "  - {id: foo, kind: howto, title: t, answer: a}\n",
     "entries[1] (id=foo): field 'kind': must be one of faq, service, policy"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, answer: x}\n", "entries[0] (id=a): field 'title': is required"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, titel: t, title: t, answer: x}\n",
     "entries[0] (id=a): field 'titel': unknown field"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, title: t, answer: x, review_by: 2027-13-01}\n",
     "entries[0] (id=a): field 'review_by': must be a date YYYY-MM-DD"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, title: t, answer: x, valid_until: 2027-01-01 10:00:00}\n",
     "entries[0] (id=a): field 'valid_until': must be a date (YYYY-MM-DD), not a date and time"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, title: t, answer: x, department: nope}\n",
     "entries[0] (id=a): field 'department': 'nope' is no such department"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, title: t, answer: x}\n"
     + "  - {id: b, kind: faq, title: t, answer: x, department: a}\n", "entries[1] (id=b): field 'department': 'a' is an entry, not a department"),
    ("x.yaml", VALID_YAML + "  - {id: dep-a, kind: faq, title: t, answer: a}\n",
     "entries[1] (id=dep-a): field 'id': duplicate id (first used by"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, title: t, answer: x, questions: 一个问题}\n",
     "entries[0] (id=a): field 'questions': must be a list of text, not str"),
    ("x.yaml", "entries:\n  - {id: a, kind: faq, title: t, answer: x, keywords: [ok, 12315]}\n",
     "entries[0] (id=a): field 'keywords': item 1 must be text, not a number (quote it)"),
    ("x.yaml", "departments:\n  - {id: d, name: n, phones: {consult: 12345}}\n",
     "departments[0] (id=d): field 'phones': 'consult' must be non-empty text"),
    # YAML 1.1 reads an unquoted 8:30 as the base-60 number 510.
    ("x.yaml", "departments:\n  - {id: d, name: n, hours: 8:30}\n",
     "departments[0] (id=d): field 'hours': must be text, not a number (quote it)"),
    ("x.yaml", "entries:\n  - {id: 'bad id', kind: faq, title: t, answer: x}\n",
     "entries[0] (id=bad id): field 'id': must be 1-120 characters"),
    ("x.yaml", "entries:\n  - just a string\n", "entries[0]: must be a mapping of fields, not str"),
    ("x.yaml", "- a\n- b\n", "top level must be a mapping"),
    ("x.yaml", "entries: [\n  {id: a\n", "line 3: not valid YAML"),
    ("x.yaml", "entries: {id: a}\n", "'entries' must be a list, not a mapping"),
    ("x.yaml", "entrys: []\n", "unknown top-level key 'entrys'"),
    ("x.json", '{"entries": [\n  {"id": "a",, }]}', "line 2: not valid JSON"),
    ("x.json", '{"entries": [{"id": "a", "kind": "faq", "title": "t", "answer": ""}]}',
     "entries[0] (id=a): field 'answer': is required"),
    ("x.csv", "id,kind,title,answer,colour\na,faq,t,x,red\n", "header: column 'colour' is unknown or repeated"),
    ("x.csv", "id,kind,title,answer\na,faq,t,x\nb,howto,t,x\n",
     "line 3 (id=b): field 'kind': must be one of faq, service, policy"),
    ("x.csv", 'id,kind,title,answer\na,faq,t,"two\nlines"\nb,faq,,x\n', "line 4 (id=b): field 'title': is required"),
    ("x.csv", "record_type,id,kind,name,title,answer\ndepartment,d,faq,甲局,,\n",
     "line 2 (id=d): field 'kind': not a department field (leave the cell empty)"),
    ("x.csv", "record_type,id,name\nbureau,d,甲局\n", "line 2: field 'record_type': must be department or entry"),
    ("x.csv", "record_type,id,name,phones\ndepartment,d,甲局,0999-1\n",
     "line 2 (id=d): field 'phones': item '0999-1' must be written label=number"),
    ("x.csv", "id,kind,title,answer\na,faq,t,x,extra\n", "line 2: has 5 cells but the header has 4"),
    ("x.txt", "whatever", "unknown file type"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "expected"), INVALID_FILES)
def test_invalid_file_names_file_record_and_field(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KbValidationError) as info:
        load_kb_files([path])
    assert f"{path}: {expected}" in str(info.value), str(info.value)
    assert isinstance(info.value, BadInput)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "entries:\n  - {id: a, kind: x, title: t, answer: y}\n  - {id: b, kind: faq, answer: y}\n"
    )
    with pytest.raises(KbValidationError) as info:
        load_kb_files([path])
    assert info.value.errors == [
        f"{path}: entries[0] (id=a): field 'kind': must be one of faq, service, policy",
        f"{path}: entries[1] (id=b): field 'title': is required",
    ]


def test_ids_are_unique_across_files_and_references_cross_files(tmp_path: Path) -> None:
    deps = tmp_path / "deps.yaml"
    deps.write_text("departments:\n  - {id: dep-a, name: 甲局}\n", encoding="utf-8")
    entries = tmp_path / "entries.csv"
    entries.write_text("id,kind,department,title,answer\ne1,faq,dep-a,t,x\n", encoding="utf-8")
    kb = load_kb_files([deps, entries])
    assert kb.entry("e1") is not None and kb.entry("e1").department == "dep-a"  # type: ignore[union-attr]
    clash = tmp_path / "clash.json"
    clash.write_text('{"entries": [{"id": "dep-a", "kind": "faq", "title": "t", "answer": "x"}]}')
    with pytest.raises(KbValidationError) as info:
        load_kb_files([deps, clash])
    assert (
        f"{clash}: entries[0] (id=dep-a): field 'id': duplicate id (first used by {deps}: departments[0]"
        in str(info.value)
    )


def test_entries_alone_may_reference_known_departments(tmp_path: Path) -> None:
    path = tmp_path / "entries.yaml"
    path.write_text("entries:\n  - {id: e, kind: policy, department: stored, title: t, answer: x}\n")
    with pytest.raises(KbValidationError):
        load_kb_files([path])
    assert load_kb_files([path], known_department_ids={"stored"}).entries[0].department == "stored"


def test_csv_entries_only_with_lists_escapes_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes(
        "\ufeffid,kind,title,questions,answer,keywords,review_by\r\n"
        'tax,faq,个税,"怎么退税 | 个税\\|汇算|",answer,个税|退税,2027-06-30\r\n'.encode()
    )
    (entry,) = load_kb_files([path]).entries
    assert entry.questions == ["怎么退税", "个税|汇算"]
    assert entry.keywords == ["个税", "退税"]
    assert entry.review_by == dt.date(2027, 6, 30)
    assert entry.department is None and entry.short_answer == ""


def _tricky_kb() -> KnowledgeBase:
    return KnowledgeBase(
        departments=[
            DepartmentRecord(
                id="dep.z", name="乙局", aliases=["乙", "B|ureau\\x"], phones={"consult": "0999-1", "x_y": "a=b"},
                address="  leading spaces", hours="8:30", duties="line1\nline2\n", email="b@example.org",
            ),
            DepartmentRecord(id="dep-a", name="甲局"),
        ],
        entries=[
            EntryRecord(
                id="e-2", kind="policy", title="2027-06-30", answer="yes", department="dep.z",
                questions=["no", "12345", "a, b; \"quoted\""], short_answer="null", keywords=["~", "true"],
                review_by=dt.date(2027, 6, 30), valid_until=dt.date(2030, 1, 1),
            ),
            EntryRecord(id="e-1", kind="faq", title="t: colon # hash", answer="CRLF\r\nline\n\ttab  \n"),
        ],
    )  # fmt: skip


def _kb(which: str, demo_kb: KnowledgeBase) -> KnowledgeBase:
    if which == "demo":
        return demo_kb
    if which == "tricky":
        return _tricky_kb()
    return KnowledgeBase([], [dataclasses.replace(e, department=None) for e in demo_kb.entries])


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
@pytest.mark.parametrize("which", ["demo", "tricky", "entries-only"])
def test_round_trip_changes_nothing(tmp_path: Path, demo_kb: KnowledgeBase, fmt: str, which: str) -> None:
    kb = _kb(which, demo_kb)
    text = dump_kb(kb, fmt)
    assert parse_kb_text(text, fmt) == kb
    path = tmp_path / f"kb.{fmt}"
    path.write_text(text, encoding="utf-8", newline="")
    again = load_kb_files([path])
    assert again == kb
    assert dump_kb(again, fmt) == text
    if fmt == "csv":
        assert text.startswith("record_type,") == bool(kb.departments)


def test_dump_is_deterministic_whatever_the_input_order(demo_kb: KnowledgeBase) -> None:
    shuffled_entries = list(demo_kb.entries)
    random.Random(7).shuffle(shuffled_entries)
    shuffled = KnowledgeBase(list(reversed(demo_kb.departments)), shuffled_entries)
    for fmt in ("yaml", "json", "csv"):
        assert dump_kb(shuffled, fmt) == dump_kb(demo_kb, fmt)
    ids = [e.id for e in demo_kb.entries]
    assert ids == sorted(ids)


def test_yaml_dump_keeps_multiline_answers_readable(demo_kb: KnowledgeBase) -> None:
    assert "answer: |" in dump_kb(demo_kb, "yaml")


def test_unknown_dump_format_is_refused(demo_kb: KnowledgeBase) -> None:
    with pytest.raises(ValueError, match="xml"):
        dump_kb(demo_kb, "xml")
    with pytest.raises(KbValidationError, match="unknown format 'xml'"):
        parse_kb_text("", "xml")
