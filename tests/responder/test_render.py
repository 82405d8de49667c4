"""render_for_channel: SMS segments, links, menus and acknowledgements; web chat unchanged."""

from __future__ import annotations

from channels.base import Capabilities
from normalizer.sms import count_segments
from responder.policy import Decision, Option, render_reply
from responder.render import RenderContext, render_for_channel

CONTEXT = RenderContext(work_order=4711, reply_hours=24, public_url="https://gw.example.gov.cn/")
SMS = Capabilities(max_text_chars=1600, max_segments=3)
WEBCHAT = Capabilities(max_text_chars=4000, supports_options=True)
LONG = "本人携带居民户口簿到户籍所在地派出所办理，未满十六周岁的由监护人陪同。" * 10


def test_short_answer_fits_and_is_sent_unchanged() -> None:
    decision = Decision("answer", "idcard", "service", 0.9, [], "带户口簿到派出所办理。", "police")
    assert render_for_channel(decision, SMS, CONTEXT) == "带户口簿到派出所办理。"


def test_long_answer_is_cut_at_a_sentence_and_linked() -> None:
    decision = Decision("answer", "idcard-first-application", "service", 0.9, [], LONG, "police")
    text = render_for_channel(decision, SMS, CONTEXT)
    suffix = " 详情: https://gw.example.gov.cn/answers/idcard-first-application"
    assert text.endswith(suffix) and text.removesuffix(suffix).endswith("。")
    assert count_segments(text).segments == 3
    assert LONG.startswith(text.removesuffix(suffix))
    one = render_for_channel(decision, Capabilities(max_segments=1), CONTEXT)
    assert count_segments(one).segments == 1 and one.endswith(suffix)


def test_clarify_becomes_a_numbered_menu() -> None:
    options = [Option("a", "户口迁移", 0.8), Option("b", "新生儿出生登记", 0.7)]
    decision = Decision("clarify", None, None, 0.8, options, "ignored", "police")
    assert render_for_channel(decision, SMS, CONTEXT) == "回复序号：\n1. 户口迁移\n2. 新生儿出生登记"
    english = Decision("clarify", None, None, 0.8, options, "ignored", "police", "en")
    assert render_for_channel(english, SMS, CONTEXT).startswith("Reply with a number:\n1. ")


def test_queue_acknowledgement_keeps_work_order_and_hours() -> None:
    text = render_for_channel(Decision("queue", reply="x"), SMS, CONTEXT)
    assert "4711" in text and "24 小时" in text and count_segments(text).segments <= 3


def test_clarify_lists_options_in_text_only_where_they_are_not_buttons() -> None:
    options = [Option("a", "户口迁移", 0.8), Option("b", "新生儿出生登记", 0.7)]
    clarify = Decision("clarify", None, None, 0.8, options, "", "police")
    clarify = Decision("clarify", None, None, 0.8, options, render_reply(clarify), "police")
    buttons = render_for_channel(clarify, WEBCHAT, CONTEXT)
    assert "户口迁移" not in buttons and "序号" in buttons  # the page shows the options as buttons
    assert render_for_channel(clarify, Capabilities(rich_text=True), CONTEXT) == clarify.reply


def test_webchat_answers_are_not_cut_or_linked() -> None:
    answer = Decision("answer", "idcard", "service", 0.9, [], LONG, "police")
    assert render_for_channel(answer, WEBCHAT, CONTEXT) == LONG  # no cut, no link
    tight = render_for_channel(answer, Capabilities(max_text_chars=10), CONTEXT)
    assert tight == LONG[:9] + "…"
