"""Voice through Twilio: Gather → speech → the answer spoken; no match → Record → transcription
queued for an operator, whose answer then goes out by SMS."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from gateway import auth
from gateway.store.models import Conversation, Message, User
from tests.channels.twilio_driver import CITIZEN, OUR_NUMBER, Webhook, post_webhook, twilio_gateway
from tests.doubles.twilio_api import TwilioDouble
from tests.support.live import LiveGateway

CALL = "CA" + "1" * 32


def call_form(**extra: str) -> dict[str, str]:
    return {"CallSid": CALL, "AccountSid": "AC" + "0" * 32, "From": CITIZEN, "To": OUR_NUMBER,
            "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01", **extra}  # fmt: skip


@pytest.fixture
async def tw() -> AsyncIterator[TwilioDouble]:
    async with TwilioDouble() as double:
        yield double


async def twiml(live: LiveGateway, tw: TwilioDouble, path: str, **extra: str) -> ET.Element:
    response = await post_webhook(live, tw.auth_token, Webhook(call_form(**extra), path=path))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


async def test_voice_round_trip(sqlite_url: str, tw: TwilioDouble) -> None:
    async with twilio_gateway(sqlite_url, tw) as live:
        public = live.gateway.settings.public_url
        greeting = await twiml(live, tw, "/channels/twilio/voice")
        gather = greeting.find("Gather")
        assert gather is not None and gather.get("input") == "speech" and gather.get("language") == "zh-CN"
        assert gather.get("action") == f"{public}/channels/twilio/voice/gather"

        answered = await twiml(
            live, tw, "/channels/twilio/voice/gather", SpeechResult="第一次办身份证需要什么材料"
        )
        said = answered.find("Say")
        assert said is not None and "户口" in (said.text or "") and "http" not in (said.text or "")
        assert answered.find("Gather") is not None  # the caller may ask again

        unmatched = await twiml(
            live, tw, "/channels/twilio/voice/gather", SpeechResult="我家楼下的路灯坏了三天了，谁来修"
        )
        record = unmatched.find("Record")
        assert record is not None and record.get("transcribe") == "true"
        assert record.get("transcribeCallback") == f"{public}/channels/twilio/voice/transcription"
        bye = await twiml(live, tw, "/channels/twilio/voice/recorded", RecordingSid="RE" + "2" * 32)
        assert bye.find("Hangup") is not None

        transcription = call_form(RecordingSid="RE" + "2" * 32, TranscriptionStatus="completed",
                                  TranscriptionText="路灯坏了，请派人修理", RecordingUrl=f"{tw.base_url}/rec")  # fmt: skip
        hook = Webhook(transcription, path="/channels/twilio/voice/transcription")
        assert (await post_webhook(live, tw.auth_token, hook)).status_code == 204
        await live.gateway.pipeline.drain()
        assert tw.messages == []  # everything so far was spoken, nothing texted

        async with live.gateway.session_factory() as session, session.begin():
            conversation = await session.scalar(
                select(Conversation).where(Conversation.key == f"voice:{CALL}")
            )
            assert conversation is not None and conversation.status == "queued"
            voicemail = await session.scalar(
                select(Message).where(Message.provider_message_id == "RE" + "2" * 32)
            )
            assert voicemail is not None and voicemail.text == "路灯坏了，请派人修理"
            session.add(User(name="olga", role="operator", password_hash=auth.hash_password("pw-olga-1")))
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            login = await http.post("/api/v1/auth/login", json={"name": "olga", "password": "pw-olga-1"})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            response = await http.post(
                f"/api/v1/conversations/{conversation.id}/reply",
                json={"text": "已安排维修。"},
                headers=headers,
            )
            assert response.status_code == 201, response.text
        [texted] = await tw.wait_for_messages(1)
        assert texted["To"] == CITIZEN and texted["Body"] == "已安排维修。"


async def test_voice_signature_and_silence(sqlite_url: str, tw: TwilioDouble) -> None:
    async with twilio_gateway(sqlite_url, tw) as live:
        forged = Webhook(
            call_form(SpeechResult="你好"), path="/channels/twilio/voice/gather", signature="forged"
        )
        assert (await post_webhook(live, tw.auth_token, forged)).status_code == 403
        again = await twiml(live, tw, "/channels/twilio/voice/gather", SpeechResult="")
        assert again.find("Gather") is not None  # nothing heard: ask again, store nothing
        english = await twiml(live, tw, "/channels/twilio/voice?lang=en")
        gather = english.find("Gather")
        assert gather is not None and gather.get("language") == "en-US"
        async with live.gateway.session_factory() as session:
            assert await session.scalar(select(Message.id).limit(1)) is None
