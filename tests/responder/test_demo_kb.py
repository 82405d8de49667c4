"""The demo knowledge base in config/kb/ is valid and fit for the demo."""

from __future__ import annotations

from normalizer.text import guess_language
from responder.index import SearchIndex
from responder.kb_model import KnowledgeBase
from responder.policy import decide

SMS_CHARS = 120


def test_demo_kb_has_departments_and_entries_of_every_kind(demo_kb: KnowledgeBase) -> None:
    assert len(demo_kb.departments) >= 8 and len(demo_kb.entries) >= 30
    assert {e.kind for e in demo_kb.entries} == {"faq", "service", "policy"}
    assert all(d.phones and d.address and d.hours for d in demo_kb.departments)


def test_demo_entries_are_complete_and_sms_sized(demo_kb: KnowledgeBase) -> None:
    for entry in demo_kb.entries:
        assert entry.questions and entry.keywords and entry.answer.strip(), entry.id
        assert 0 < len(entry.short_answer) <= SMS_CHARS, entry.id
    english = [q for e in demo_kb.entries for q in e.questions if guess_language(q) == "en"]
    assert len(english) >= 5


def test_every_stored_question_answers_its_own_entry(demo_index: SearchIndex, demo_kb: KnowledgeBase) -> None:
    # The KB's own phrasings must never be ambiguous with each other: a curation check.
    wrong = [
        (q, e.id, d.decision, d.entry_id)
        for e in demo_kb.entries
        for q in e.questions
        if (d := decide(demo_index, demo_kb, q)).entry_id != e.id
    ]
    assert wrong == []
