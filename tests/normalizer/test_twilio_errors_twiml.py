"""Twilio REST error classification and TwiML builders (checked against the twilio SDK's builders)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, Say, VoiceResponse

from normalizer.twilio import (
    classify_twilio_error,
    empty_messaging_response,
    messaging_response,
    voice_gather,
    voice_record,
    voice_say_then_gather,
)


def _err(code: int, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": "The 'To' number +15005550001 is not valid.",
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.mark.parametrize(
    ("status", "body", "retryable", "code"),
    [
        (500, None, True, None),
        (503, {"code": 20500, "message": "Internal Server Error"}, True, "20500"),
        (429, _err(20429, 429), True, "20429"),
        (429, None, True, "20429"),
        (400, _err(20429, 400), True, "20429"),
        (400, _err(21211, 400), False, "21211"),
        (400, _err(21610, 400), False, "21610"),
        (400, _err(21614, 400), False, "21614"),
        (400, _err(21408, 400), False, "21408"),
        (400, _err(21612, 400), False, "21612"),
        (400, _err(30003, 400), False, "30003"),
        (400, _err(30008, 400), False, "30008"),
        (401, _err(20003, 401), False, "20003"),
        (404, {"code": 20404}, False, "20404"),
        (400, _err(99999, 400), False, "99999"),
        (403, None, False, None),
        (400, {"code": "", "message": "x"}, False, None),
    ],
)
def test_classify(status: int, body: dict[str, Any] | None, retryable: bool, code: str | None) -> None:
    got_retryable, got_code, reason = classify_twilio_error(status, body)
    assert (got_retryable, got_code) == (retryable, code)
    assert reason
    assert "+15005550001" not in reason  # Twilio's message quotes the number: never copied


def test_permanent_reasons_name_the_problem() -> None:
    assert "STOP" in classify_twilio_error(400, _err(21610, 400))[2]
    assert "mobile" in classify_twilio_error(400, _err(21614, 400))[2]


# ----------------------------------------------------------------------------- TwiML


def _tree(xml: str) -> Any:
    def walk(el: ET.Element) -> Any:
        return (el.tag, sorted(el.attrib.items()), (el.text or "").strip(), [walk(c) for c in el])

    return walk(ET.fromstring(xml.encode("utf-8")))


def test_empty_messaging_response() -> None:
    xml = empty_messaging_response()
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert _tree(xml) == _tree(str(MessagingResponse())) == ("Response", [], "", [])


def test_messaging_response_escapes() -> None:
    text = '答复 <b>&"1"'
    sdk = MessagingResponse()
    sdk.message(text)
    assert _tree(messaging_response(text)) == _tree(str(sdk))


PROMPT = "请说出您的问题 <例如：身份证> & 其他"
ACTION = "https://gw.example.cn/channels/twilio/voice?step=1&x=<2>"


def _sdk_gather(prompt: str) -> Gather:
    gather = Gather(
        input="speech", language="zh-CN", action=ACTION, method="POST", timeout=5, speech_timeout="auto"
    )
    gather.append(Say(prompt, language="zh-CN"))
    return gather


def test_voice_gather_matches_sdk() -> None:
    sdk = VoiceResponse()
    sdk.append(_sdk_gather(PROMPT))
    assert _tree(voice_gather(PROMPT, "zh-CN", ACTION)) == _tree(str(sdk))


def test_voice_say_then_gather_matches_sdk() -> None:
    sdk = VoiceResponse()
    sdk.say("办理身份证需要户口簿。", language="zh-CN")
    sdk.append(_sdk_gather(PROMPT))
    assert _tree(voice_say_then_gather("办理身份证需要户口簿。", PROMPT, "zh-CN", ACTION)) == _tree(str(sdk))


def test_voice_record_matches_sdk() -> None:
    sdk = VoiceResponse()
    sdk.say("请在提示音后留言", language="zh-CN")
    sdk.record(
        action=ACTION,
        method="POST",
        max_length=120,
        play_beep=True,
        transcribe=True,
        transcribe_callback="https://gw.example.cn/t?a=1&b=2",
    )
    ours = voice_record("请在提示音后留言", ACTION, "https://gw.example.cn/t?a=1&b=2")
    assert _tree(ours) == _tree(str(sdk))
    assert 'transcribe="true"' in ours
