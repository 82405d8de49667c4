"""Search and decision policy on the demo knowledge base."""

from __future__ import annotations

import datetime as dt

import pytest

from responder.index import SearchIndex, analyze
from responder.kb_model import KnowledgeBase
from responder.policy import (
    ANSWER_MIN_CONFIDENCE,
    QUEUE_REPLY,
    Decision,
    Option,
    decide,
    pick_option,
    render_reply,
)
from responder.service import Responder, as_json

# Paraphrases written for these tests: none is a stored question or title verbatim.
ANSWERED = [
    ("身份证丢了怎么办", "idcard-lost"),
    ("我的身份證丟了怎麼辦", "idcard-lost"),  # traditional characters
    ("第一次办身份证要带啥", "idcard-first-application"),
    ("孩子上户口", "newborn-hukou"),
    ("老板不给工资", "wage-arrears-complaint"),
    ("我要投诉出租车", "taxi-complaint"),
    ("坐公交老人免费吗", "elderly-bus-card"),
    ("怎么申请低保", "minimum-living-allowance"),
    ("我想办个护照", "passport-application"),
    ("个税退税", "iit-annual-settlement"),
    ("在外地住院医保能报吗", "medical-offsite-filing"),
    ("ＩＤ ｃａｒｄ first time", "idcard-first-application"),  # full-width Latin
    ("How do I apply for a residence permit?", "residence-permit"),
    ("how to renew my driving licence", "driving-licence-renewal"),
    ("Do you speak English?", "english-assistance"),
]


@pytest.mark.parametrize(("question", "entry_id"), ANSWERED)
def test_paraphrased_questions_are_answered(
    demo_index: SearchIndex, demo_kb: KnowledgeBase, question: str, entry_id: str
) -> None:
    decision = decide(demo_index, demo_kb, question)
    assert (decision.decision, decision.entry_id) == ("answer", entry_id), decision
    entry = demo_kb.entry(entry_id)
    assert entry is not None
    assert decision.reply == entry.answer.strip()
    assert decision.kind == entry.kind and decision.department_id == entry.department
    assert ANSWER_MIN_CONFIDENCE <= decision.score <= 1.0


def test_sms_gets_the_short_answer(demo_index: SearchIndex, demo_kb: KnowledgeBase) -> None:
    decision = decide(demo_index, demo_kb, "身份证丢了怎么办", channel="sms")
    assert decision.reply == demo_kb.entry("idcard-lost").short_answer  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("question", "department", "present", "absent"),
    [
        ("公安局电话是多少", "public-security", ["0999-55501100", "0999-55501101"], ["滨江大道"]),
        ("人社局投诉电话", "human-resources", ["投诉电话：0999-55502201"], ["0999-55502200"]),
        ("医保局在哪", "healthcare-security", ["地址：临江市健康路6号"], ["电话"]),
        ("公积金中心几点上班", "housing-fund", ["办公时间：周一至周五"], ["电话"]),
        (
            "What is the phone number of the Tax Bureau?",
            "taxation",
            ["Phone (enquiries): 0999-55508800"],
            ["："],
        ),
        ("民政局的地址和电话", "civil-affairs", ["临江市和平街9号", "0999-55507700"], ["办公时间"]),
    ],
)
def test_department_contact_questions_answer_from_the_department(
    demo_index: SearchIndex,
    demo_kb: KnowledgeBase,
    question: str,
    department: str,
    present: list[str],
    absent: list[str],
) -> None:
    decision = decide(demo_index, demo_kb, question)
    assert (decision.decision, decision.kind, decision.entry_id) == ("answer", "department", department)
    assert decision.department_id == department
    for text in present:
        assert text in decision.reply
    for text in absent:
        assert text not in decision.reply


@pytest.mark.parametrize("question", ["身份证", "社保", "公积金怎么取"])
def test_vague_questions_get_numbered_options(
    demo_index: SearchIndex, demo_kb: KnowledgeBase, question: str
) -> None:
    decision = decide(demo_index, demo_kb, question)
    assert decision.decision == "clarify"
    assert 2 <= len(decision.options) <= 3
    assert decision.entry_id is None and decision.kind is None
    lines = decision.reply.splitlines()
    assert lines[0] == "您是想问：" and lines[-1] == "请回复序号。"
    assert lines[1:-1] == [f"{n}. {o.title}" for n, o in enumerate(decision.options, start=1)]
    assert as_json(decision)["options"] == [{"id": o.id, "score": o.score} for o in decision.options]


def test_identity_card_options_are_the_identity_card_entries(
    demo_index: SearchIndex, demo_kb: KnowledgeBase
) -> None:
    decision = decide(demo_index, demo_kb, "身份证")
    assert {o.id for o in decision.options} == {"idcard-lost", "idcard-renewal", "idcard-first-application"}


@pytest.mark.parametrize("question", ["今天天气怎么样", "asdfgh qwerty", "！！！", "", "办证"])
def test_nonsense_and_unrelated_questions_are_queued(
    demo_index: SearchIndex, demo_kb: KnowledgeBase, question: str
) -> None:
    decision = decide(demo_index, demo_kb, question)
    assert decision.decision == "queue" and decision.entry_id is None and decision.options == []
    assert decision.department_id is None


def test_queue_reply_follows_the_language(demo_index: SearchIndex, demo_kb: KnowledgeBase) -> None:
    assert decide(demo_index, demo_kb, "asdfgh qwerty").reply == QUEUE_REPLY["en"]
    assert decide(demo_index, demo_kb, "今天天气怎么样").reply == QUEUE_REPLY["zh"]


@pytest.mark.parametrize(
    ("question", "department"),
    [
        ("公司注销怎么办", "market-regulation"),
        ("公积金账户余额查询", "housing-fund"),
        ("退休工资怎么算", "human-resources"),
    ],
)
def test_queued_questions_on_a_known_topic_suggest_its_department(
    demo_index: SearchIndex, demo_kb: KnowledgeBase, question: str, department: str
) -> None:
    # No entry covers these, but the best hits belong to the department that does.
    decision = decide(demo_index, demo_kb, question)
    assert (decision.decision, decision.department_id) == ("queue", department)


def test_expired_entries_are_never_answered(demo_index: SearchIndex, demo_kb: KnowledgeBase) -> None:
    question = "毕业生租房补贴怎么申请"
    assert (
        decide(demo_index, demo_kb, question, today=dt.date(2030, 12, 31)).entry_id
        == "graduate-employment-subsidy"
    )
    later = decide(demo_index, demo_kb, question, today=dt.date(2031, 1, 1))
    assert later.entry_id != "graduate-employment-subsidy"


def test_search_confidence_is_normalised(demo_index: SearchIndex) -> None:
    hits = demo_index.search("身份证丢了怎么办", limit=5)
    assert hits[0].doc_id == "idcard-lost"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)
    assert hits[0].confidence > hits[-1].confidence
    assert demo_index.search("", limit=5) == []


def test_analysis_folds_width_case_and_script() -> None:
    assert analyze("身份證") == analyze("身份证")
    assert analyze("ＲＥＳＩＤＥＮＣＥ Permits") == analyze("residence permit")
    assert "的" not in analyze("我的身份证") and "the" not in analyze("the passport")


def test_english_clarify_wording() -> None:
    decision = Decision(
        "clarify", options=[Option("a", "Alpha", 0.5), Option("b", "Beta", 0.5)], language="en"
    )
    assert render_reply(decision) == "Did you mean:\n1. Alpha\n2. Beta\nPlease reply with the number."


OPTIONS = [Option("first", "一", 0.9), Option("second", "二", 0.8), Option("third", "三", 0.7)]


@pytest.mark.parametrize(
    ("reply", "picked"),
    [
        ("2", "second"), ("２", "second"), ("第2个", "second"), ("第二个", "second"), (" 3。", "third"),
        ("②", "second"), ("选1", "first"), ("option 3", "third"), ("1", "first"),
        ("4", None), ("0", None), ("身份证丢了", None), ("12个月", None), ("", None),
    ],
)  # fmt: skip
def test_pick_option(reply: str, picked: str | None) -> None:
    assert pick_option(OPTIONS, reply) == picked
    assert pick_option([{"id": o.id} for o in OPTIONS], reply) == picked


def test_picking_from_a_real_clarify(demo_index: SearchIndex, demo_kb: KnowledgeBase) -> None:
    decision = decide(demo_index, demo_kb, "身份证")
    assert pick_option(decision.options, "2") == decision.options[1].id


def test_as_json_shape(demo_index: SearchIndex, demo_kb: KnowledgeBase) -> None:
    answered = as_json(decide(demo_index, demo_kb, "身份证丢了怎么办"))
    assert set(answered) == {"decision", "id", "kind", "score", "options", "reply"}
    assert (answered["id"], answered["kind"], answered["options"]) == ("idcard-lost", "service", [])
    queued = as_json(decide(demo_index, demo_kb, "今天天气怎么样"))
    assert (queued["decision"], queued["id"], queued["kind"]) == ("queue", None, None)
    assert isinstance(queued["score"], float) and queued["reply"] == QUEUE_REPLY["zh"]


async def test_responder_over_files_answers_like_gateway_ask(demo_kb: KnowledgeBase) -> None:
    responder = await Responder.from_kb(demo_kb)
    out = as_json(responder.decide("公安局电话是多少", channel="sms"))
    assert (out["decision"], out["id"], out["kind"], out["score"]) == (
        "answer",
        "public-security",
        "department",
        1.0,
    )
    assert "0999-55501100" in out["reply"]
    clarify = as_json(responder.decide("身份证"))
    assert (clarify["decision"], clarify["id"], clarify["kind"]) == ("clarify", None, None)
    assert len(clarify["options"]) == 3
