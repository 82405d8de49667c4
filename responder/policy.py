"""The decision policy: answer, ask the citizen to choose (clarify), or queue for a person.

::

    question ─► names a department and asks for its phone/address/hours? ─► answer (kind department)
             └► search ─► top hit confident, no close rival ─► answer (the entry, or a department)
                       ├► top hit fairly confident, 1-2 close rivals ─► clarify (numbered options)
                       └► otherwise ─► queue (routed to the best hit's department when plausible)

Scores in a :class:`Decision` are confidences (0..1, see :mod:`responder.index`), not raw BM25.
The thresholds are module constants so that bench/responder_quality.py can report against them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from normalizer.text import fold_for_matching, guess_language
from responder.index import Hit, SearchIndex
from responder.kb_model import DepartmentRecord, KnowledgeBase

# At least 60 % of the question's informative (IDF-weighted) words must sit in the entry's
# title, questions or keywords before we answer without a person: below that the entry often
# shares only the topic (身份证) but not the situation (丢了 vs 到期).
ANSWER_MIN_CONFIDENCE = 0.6
# A rival scoring within 75 % of the top hit's BM25 score makes the top hit not "clearly ahead".
RIVAL_SCORE_RATIO = 0.75
# Rivals and clarify options must themselves cover 45 % of the question; offering options that
# match one word of it would only annoy the citizen.
CLARIFY_MIN_CONFIDENCE = 0.45
MAX_OPTIONS = 3
# Below this, the best hit is too weak a clue even to pick the department to route to.
ROUTE_MIN_CONFIDENCE = 0.3
# Only the opening of a long message is matched. Citizens put the question first (quoted history
# and signatures are already stripped by the normalizer), and matching cost grows with length:
# a 2 KB e-mail body cost the SMTP listener a fifth of its CPU. Longer text adds no signal that
# the first few hundred characters lack, only noise words that dilute confidence.
MAX_MATCHED_CHARS = 600
# Channels where the SMS-sized ``short_answer`` is sent instead of the full answer.
SHORT_ANSWER_CHANNELS = frozenset({"sms"})

QUEUE_REPLY = {
    "zh": "您好，您的问题已收到，我们已转交工作人员，会尽快为您答复。",
    "en": "Thank you, we have received your question. A member of staff will reply to you as soon as possible.",
}
_CLARIFY_TEMPLATE = {
    "zh": ("您是想问：", "请回复序号。"),
    "en": ("Did you mean:", "Please reply with the number."),
}

# What a contact question asks for, matched on folded text. English needs word boundaries
# ("open" must not fire inside "opening" twice, "call" not inside "recall").
_ASPECTS: dict[str, re.Pattern[str]] = {
    "phone": re.compile(r"电话|号码|热线|联系方式|怎么联系|\b(?:phone|telephone|number|call|contact)\b"),
    "address": re.compile(
        r"地址|在哪|哪里办公|位置|怎么走|\b(?:address|where is|where are|located|location)\b"
    ),
    "hours": re.compile(
        r"几点|上班|下班|办公时间|工作时间|营业时间|开门|关门|周末|\b(?:hours|open|opening|close|closing)\b"
    ),
    "email": re.compile(r"邮箱|电子邮件|\b(?:e-?mail)\b"),
}
_PHONE_LABELS: dict[str, re.Pattern[str]] = {
    "consult": re.compile(r"咨询|\b(?:consult\w*|enquir\w*|inquir\w*)\b"),
    "complaint": re.compile(r"投诉|举报|\bcomplain\w*\b"),
    "supervision": re.compile(r"监督|\bsupervis\w*\b"),
}
_LABELS = {
    "zh": {"consult": "咨询电话", "complaint": "投诉电话", "supervision": "监督电话", "phone": "电话",
           "address": "地址", "hours": "办公时间", "email": "邮箱", "duties": "主要职责"},
    "en": {"consult": "Phone (enquiries)", "complaint": "Phone (complaints)", "supervision": "Phone (supervision)",
           "phone": "Phone", "address": "Address", "hours": "Office hours", "email": "E-mail", "duties": "Duties"},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Option:
    """A numbered choice in a clarify reply: an entry (or department) id, its title, its confidence."""

    id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What the responder decided about one question.

    decision: ``answer`` | ``clarify`` | ``queue``. entry_id/kind: the answered record (kind is
    faq, service, policy or department), None otherwise. score: confidence of the best hit
    (0..1). options: the choices of a clarify. reply: the text to send. department_id: the
    answered record's department, or the suggested routing target of a queue. language: ``zh``
    or ``en``, the language the reply's own wording is in.
    """

    decision: str
    entry_id: str | None = None
    kind: str | None = None
    score: float = 0.0
    options: list[Option] = field(default_factory=list)
    reply: str = ""
    department_id: str | None = None
    language: str = "zh"


def _aspects(folded: str) -> list[str]:
    return [name for name, pattern in _ASPECTS.items() if pattern.search(folded)]


def department_reply(dep: DepartmentRecord, folded_question: str, aspects: Sequence[str], lang: str) -> str:
    """The contact details of ``dep`` the question asks for (all of them when ``aspects`` is empty)."""
    labels = _LABELS[lang]
    wanted = list(aspects) or ["phone", "address", "hours", "email"]
    lines = [dep.name]
    if "phone" in wanted:
        asked = [k for k, p in _PHONE_LABELS.items() if p.search(folded_question) and k in dep.phones]
        for key in asked or list(dep.phones):
            lines.append(f"{labels.get(key, labels['phone'] + ' (' + key + ')')}：{dep.phones[key]}")
    for aspect in ("address", "hours", "email"):
        value = getattr(dep, aspect)
        if aspect in wanted and value:
            lines.append(f"{labels[aspect]}：{value}")
    if not aspects and dep.duties:
        lines.append(f"{labels['duties']}：{dep.duties}")
    if lang == "en":
        lines = [line.replace("：", ": ") for line in lines]
    return "\n".join(lines)


def render_reply(decision: Decision) -> str:
    """The text for ``decision``: the numbered list of a clarify, otherwise ``decision.reply``."""
    if decision.decision != "clarify":
        return decision.reply
    head, tail = _CLARIFY_TEMPLATE.get(decision.language, _CLARIFY_TEMPLATE["zh"])
    lines = [head, *(f"{n}. {opt.title}" for n, opt in enumerate(decision.options, start=1)), tail]
    return "\n".join(lines)


def _title(kb: KnowledgeBase, hit: Hit) -> str:
    record = kb.department(hit.doc_id) if hit.kind == "department" else kb.entry(hit.doc_id)
    if record is None:
        return hit.doc_id
    return record.name if isinstance(record, DepartmentRecord) else record.title


def _department_of(kb: KnowledgeBase, hit: Hit) -> str | None:
    if hit.kind == "department":
        return hit.doc_id
    entry = kb.entry(hit.doc_id)
    return entry.department if entry is not None else None


def answer_record(kb: KnowledgeBase, record_id: str, text: str, channel: str, score: float = 1.0) -> Decision:
    """An ``answer`` Decision for a known entry or department id (also used after a clarify pick)."""
    lang = guess_language(text) if text.strip() else "zh"
    dep = kb.department(record_id)
    if dep is not None:
        folded = fold_for_matching(text)
        reply = department_reply(dep, folded, _aspects(folded), lang)
        return Decision("answer", dep.id, "department", score, [], reply, dep.id, lang)
    entry = kb.entry(record_id)
    if entry is None:
        raise KeyError(record_id)
    short = channel in SHORT_ANSWER_CHANNELS and entry.short_answer
    reply = (entry.short_answer if short else entry.answer).strip()
    return Decision("answer", entry.id, entry.kind, score, [], reply, entry.department, lang)


def decide(
    index: SearchIndex, kb: KnowledgeBase, text: str, channel: str = "webchat", today: dt.date | None = None
) -> Decision:
    """Decide how to handle the citizen's question ``text`` (see the module docstring)."""
    text = text[:MAX_MATCHED_CHARS]
    lang = guess_language(text)
    folded = fold_for_matching(text)
    aspects = _aspects(folded)
    named = index.departments_named(text)
    if aspects and named:
        return answer_record(kb, named[0], text, channel)
    day = today or dt.date.today()
    hits = [
        h
        for h in index.search(text, limit=MAX_OPTIONS + 5)
        if h.kind == "department" or ((e := kb.entry(h.doc_id)) is not None and e.is_valid_on(day))
    ]
    if not hits:
        return Decision("queue", reply=QUEUE_REPLY[lang], language=lang)
    top = hits[0]
    rivals = [
        h
        for h in hits[1:]
        if h.score >= RIVAL_SCORE_RATIO * top.score and h.confidence >= CLARIFY_MIN_CONFIDENCE
    ]
    if top.confidence >= ANSWER_MIN_CONFIDENCE and not rivals:
        return answer_record(kb, top.doc_id, text, channel, round(top.confidence, 4))
    if top.confidence >= CLARIFY_MIN_CONFIDENCE and rivals:
        options = [
            Option(h.doc_id, _title(kb, h), round(h.confidence, 4)) for h in [top, *rivals][:MAX_OPTIONS]
        ]
        pending = Decision(
            "clarify", None, None, round(top.confidence, 4), options, "", _department_of(kb, top), lang
        )
        return dataclasses.replace(pending, reply=render_reply(pending))
    route = _department_of(kb, top) if top.confidence >= ROUTE_MIN_CONFIDENCE else None
    return Decision("queue", score=round(top.confidence, 4), reply=QUEUE_REPLY[lang], department_id=route,
                    language=lang)  # fmt: skip


_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_PICK = re.compile(
    r"(?:我选|选|选择|要)?\s*(?:第)?\s*(\d{1,2}|[一二两三四五六七八九十])\s*(?:个|项|条|种|号)?"
    r"|(?:option|number|no\.?|#)\s*(\d{1,2})"
)


def pick_option(options: Sequence[Option | Mapping[str, Any]], text: str) -> str | None:
    """The id of the option a reply like ``2``, ``２``, ``第2个``, ``②`` or ``option 2`` picks, else None.

    ``options`` may be :class:`Option` objects or stored dicts with an ``id`` key (in order).
    Anything else in the reply (a new question) returns None.
    """
    folded = fold_for_matching(text).strip().rstrip("。.!！~～ ")
    match = _PICK.fullmatch(folded)
    if match is None:
        return None
    raw = match.group(1) or match.group(2)
    number = int(raw) if raw.isdigit() else _CN_DIGITS[raw]
    if not 1 <= number <= len(options):
        return None
    chosen = options[number - 1]
    return chosen.id if isinstance(chosen, Option) else str(chosen["id"])
