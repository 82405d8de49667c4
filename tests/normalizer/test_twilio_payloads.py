"""Inbound Twilio webhook forms and status callbacks: corpus payloads and hand-made edge cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from gateway.errors import BadInput
from normalizer.twilio import StatusUpdate, parse_status_callback, parse_twilio_form

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
NO_CORPUS = "../shared/corpus not found (CI always has it beside the clone)"
PAYLOADS = CORPUS / "twilio" / "payloads_courier"


def _payload(stem: str) -> dict[str, list[str]]:
    path = PAYLOADS / f"{stem}.json"
    if not path.is_file():
        pytest.skip(NO_CORPUS)
    # The raw urlencoded body, decoded the way the HTTP layer will (repeated keys kept as lists).
    return parse_qs(json.loads(path.read_text("utf-8"))["raw_body"], keep_blank_values=True)


def _all_payloads() -> list[Any]:
    files = sorted(PAYLOADS.glob("*.json"))
    if not files:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=NO_CORPUS))]
    return [pytest.param(f.stem, id=f.stem, marks=pytest.mark.corpus) for f in files]


@pytest.mark.parametrize("stem", _all_payloads())
def test_every_corpus_payload_parses(stem: str) -> None:
    form = _payload(stem)
    if "MessageStatus" in form:
        if form["MessageStatus"] == ["huh"]:
            with pytest.raises(BadInput, match="unknown message status"):
                parse_status_callback(form)
            return
        update = parse_status_callback(form)
        assert update.message_sid == form["MessageSid"][0]
        assert update.status == form["MessageStatus"][0]
        return
    inquiry = parse_twilio_form(form, default_region="US")
    assert inquiry.channel == "sms"
    assert inquiry.provider_message_id == form["MessageSid"][0]
    assert inquiry.sender.startswith("+")
    assert inquiry.attachments == ()
    assert inquiry.metadata["account_sid"] == "acctid"


# stem -> expected fields
INBOUND_TABLE = {
    "01_receiveValid": {
        "sender": "+14133881111",
        "recipient": "+12028831111",
        "text": "Msg",
        "language": "en",
        "provider_message_id": "SMe287d7109a5a925f182f0e07fe5b223b",
        "conversation_key": "+14133881111|+12028831111",
        "meta": {
            "num_segments": 1,
            "num_media": 0,
            "media": [],
            "whatsapp": False,
            "geo": {
                "from": {"city": "CHICOPEE", "state": "MA", "zip": "01022", "country": "US"},
                "to": {"state": "District Of Columbia", "country": "US"},
            },
        },
    },
    "02_receiveMedia": {
        "text": "",
        "language": "zh",
        "meta": {
            "num_media": 2,
            "media": [{"url": "cat.jpg", "content_type": None}, {"url": "dog.jpg", "content_type": None}],
        },
    },
    "03_receiveMediaWithMsg": {"text": "Msg", "meta": {"num_media": 2}},
    # Body stays as sent: guessing base64 would corrupt genuine messages that look like base64.
    "04_receiveBase64": {
        "text": "QmFubm9uIEV4cGxhaW5zIFRoZSBXb3JsZCAuLi4K4oCcVGhlIENhbXAgb2YgdGhlIFNhaW50c+KA"
    },
    "05_receiveButtonIgnored": {"text": "Msg", "meta": {"button_text": "Confirm"}},
    "06_waReceiveValid": {
        "sender": "+14133881111",
        "recipient": "+12028831111",
        "conversation_key": "whatsapp:+14133881111|whatsapp:+12028831111",
        "meta": {"whatsapp": True},
    },
    "07_waReceiveBSUIDValid": {"meta": {"whatsapp": True, "external_user_id": "whatsapp:US.1234"}},
    "08_tmsReceiveExtra": {
        "recipient": "384387",
        "text": "John Cruz",
        "provider_message_id": "SMbbf29aeb9d380ce2a1c0ae4635ff9dab",
        "conversation_key": "+14133881111|384387",
        "meta": {
            "geo": {
                "from": {"city": "RALEIGH", "state": "NC", "zip": "27609", "country": "US"},
                "to": {"country": "US"},
            }
        },
    },
}


@pytest.mark.corpus
@pytest.mark.parametrize("stem", sorted(INBOUND_TABLE))
def test_inbound_expected_fields(stem: str) -> None:
    expected = dict(INBOUND_TABLE[stem])
    meta = expected.pop("meta", {})
    inquiry = parse_twilio_form(_payload(stem), default_region="US")
    for name, value in expected.items():
        assert getattr(inquiry, name) == value, name
    for key, value in meta.items():
        assert inquiry.metadata[key] == value, key


STATUS_TABLE = {
    "09_tmsStatusExtra": StatusUpdate("SM0b6e2697aae04182a9f5b5c7a8994c7f", "sent", None, None, "sent"),
    "10_statusValid": StatusUpdate(
        "SMe287d7109a5a925f182f0e07fe5b223b", "delivered", None, None, "delivered"
    ),
    "11_statusRead": StatusUpdate("SMe287d7109a5a925f182f0e07fe5b223b", "read", None, None, "read"),
    "12_statusStop": StatusUpdate("SMe287d7109a5a925f182f0e07fe5b223b", "failed", "21610", None, "failed"),
    "13_statusRateLimit": StatusUpdate(
        "SMe287d7109a5a925f182f0e07fe5b223b", "failed", "63018", None, "failed"
    ),
}


@pytest.mark.corpus
@pytest.mark.parametrize("stem", sorted(STATUS_TABLE))
def test_status_callbacks(stem: str) -> None:
    assert parse_status_callback(_payload(stem)) == STATUS_TABLE[stem]


# ----------------------------------------------------------------------------- hand-made forms

BASE = {
    "MessageSid": "SM" + "a" * 32,
    "From": "+8613812345678",
    "To": "+8610690000",
    "Body": "身份证 怎么办？",
    "AccountSid": "AC" + "b" * 32,
    "NumSegments": "1",
    "NumMedia": "0",
}


def test_chinese_sms_defaults_to_cn_and_guesses_zh() -> None:
    inquiry = parse_twilio_form(dict(BASE, From="138 1234 5678"))
    assert inquiry.sender == "+8613812345678"
    assert inquiry.language == "zh"
    assert inquiry.text == "身份证 怎么办？"
    assert inquiry.metadata["keyword"] is None


def test_media_with_content_types_and_gaps() -> None:
    form = dict(
        BASE,
        NumMedia="3",
        MediaUrl0="https://api.twilio.com/m0",
        MediaContentType0="image/jpeg",
        MediaUrl2="https://api.twilio.com/m2",
        MediaContentType2="application/pdf",
    )
    assert parse_twilio_form(form).metadata["media"] == [
        {"url": "https://api.twilio.com/m0", "content_type": "image/jpeg"},
        {"url": "https://api.twilio.com/m2", "content_type": "application/pdf"},
    ]


def test_sid_fallbacks_and_messaging_service() -> None:
    form = {k: v for k, v in BASE.items() if k != "MessageSid"} | {
        "SmsMessageSid": "SMold",
        "MessagingServiceSid": "MG1",
    }
    inquiry = parse_twilio_form(form)
    assert inquiry.provider_message_id == "SMold"
    assert inquiry.metadata["messaging_service_sid"] == "MG1"


def test_stop_keyword_is_flagged() -> None:
    assert parse_twilio_form(dict(BASE, Body=" ＳＴＯＰ ")).metadata["keyword"] == "stop"


def test_body_is_cleaned() -> None:
    assert parse_twilio_form(dict(BASE, Body="a\r\n\u200bb\x00  c")).text == "a\nb c"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"From": ""}, "'From'"), ({"MessageSid": ""}, "'MessageSid'"), ({"From": "not-a-number"}, "'From'")],
)
def test_bad_forms_raise_bad_input(change: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_twilio_form(BASE | change)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"MessageStatus": "sent"}, "MessageSid"),
        ({"MessageSid": "SM1"}, "MessageStatus"),
        ({"MessageSid": "SM1", "MessageStatus": "lost"}, "unknown message status"),
    ],
)
def test_bad_status_callbacks(form: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_status_callback(form)


def test_status_is_case_folded_and_error_kept() -> None:
    update = parse_status_callback(
        {
            "SmsSid": "SM1",
            "SmsStatus": "Undelivered",
            "ErrorCode": "30003",
            "ErrorMessage": "Unreachable destination handset",
        }
    )
    assert update == StatusUpdate(
        "SM1", "undelivered", "30003", "Unreachable destination handset", "Undelivered"
    )
