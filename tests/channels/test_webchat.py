"""Web chat over a real socket against a running gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest
import websockets

from tests.channels.harness import (
    InboundCase,
    OutboundCase,
    assert_no_secrets_logged,
    check_inbound,
    check_outbound,
    forbid_egress,
)
from tests.channels.webchat_driver import WebchatDriver, chat, conversation_for
from tests.support.live import LiveGateway

INBOUND_CASES = [
    InboundCase(
        "chinese question",
        {"type": "message", "text": "第一次办身份证需要什么材料", "client_id": "c-1"},
        "ack",
        {"text": "第一次办身份证需要什么材料", "language": "zh", "channel": "webchat", "author": "citizen"},
    ),
    InboundCase(
        "english question",
        {"type": "message", "text": "How do I apply for a residence permit?", "client_id": "c-2"},
        "ack",
        {"language": "en"},
    ),
    InboundCase(
        "whitespace and controls cleaned",
        {"type": "message", "text": "  社保卡\u3000丢了\x00 ", "client_id": "c-3"},
        "ack",
        {"text": "社保卡 丢了"},
    ),
    InboundCase("malformed json", "{not json", "error"),
    InboundCase("not an object", "[1, 2]", "error"),
    InboundCase("unknown type", {"type": "hello"}, "error"),
    InboundCase("empty text", {"type": "message", "text": "   ", "client_id": "c-4"}, "error"),
    InboundCase("text not a string", {"type": "message", "text": 42, "client_id": "c-5"}, "error"),
    InboundCase("missing client id", {"type": "message", "text": "hi"}, "error"),
    InboundCase("client id with spaces", {"type": "message", "text": "hi", "client_id": "a b"}, "error"),
    InboundCase("text too long", {"type": "message", "text": "长" * 2001, "client_id": "c-6"}, "error"),
    InboundCase(
        "frame too large",
        json.dumps({"type": "message", "text": "x", "client_id": "c-7", "pad": "p" * 20000}),
        "error",
    ),
    InboundCase("binary frame", b"\x00\x01binary", "error"),
    InboundCase("deeply nested json", "[" * 100000 + "]" * 100000, "error"),
]

OUTBOUND_CASES = [
    OutboundCase(
        "bot answer",
        {"text": "请携带户口簿。", "author": "bot"},
        {"type": "reply", "text": "请携带户口簿。", "from": "bot", "options": []},
    ),
    OutboundCase(
        "operator reply",
        {"text": "您好，已为您查询。", "author": "operator"},
        {"from": "operator", "text": "您好，已为您查询。"},
    ),
    OutboundCase(
        "clarify options",
        {"text": "您是想问：", "options": [{"n": 1, "id": "a", "title": "A"}]},
        {"options": [{"n": 1, "id": "a", "title": "A"}]},
    ),
]


@pytest.mark.parametrize("case", INBOUND_CASES, ids=lambda c: c.name)
async def test_inbound(gateway_live: LiveGateway, case: InboundCase, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_egress(monkeypatch)
    await check_inbound(gateway_live, WebchatDriver(), case)


@pytest.mark.parametrize("case", OUTBOUND_CASES, ids=lambda c: c.name)
async def test_outbound(gateway_live: LiveGateway, case: OutboundCase) -> None:
    await check_outbound(gateway_live, WebchatDriver(), case)


async def test_question_gets_ack_then_answer(
    gateway_live: LiveGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(
        logging.INFO
    )  # the level production runs at; DEBUG traces of drivers include SQL parameters
    async with chat(gateway_live) as client:
        client_id = await client.say("第一次办身份证需要什么材料")
        ack = await client.next_frame("ack")
        reply = await client.next_frame("reply")
    assert ack["client_id"] == client_id
    assert reply["inquiry_id"] == ack["inquiry_id"]
    assert reply["from"] == "bot"
    assert "户口" in reply["text"]  # the demo entry lists the household register among the papers
    assert_no_secrets_logged(caplog.records, [client.session, "第一次办身份证"])


async def test_error_frame_keeps_socket_open(gateway_live: LiveGateway) -> None:
    async with chat(gateway_live) as client:
        await client.send_raw("{broken")
        error = await client.next_frame()
        assert error["type"] == "error" and "JSON" in error["error"]
        await client.say("社保卡丢了怎么办")
        assert (await client.next_frame())["type"] == "ack"


async def test_reconnect_restores_history(gateway_live: LiveGateway) -> None:
    async with chat(gateway_live) as client:
        await client.say("身份证丢了怎么办")
        await client.next_frame("reply")
        token = client.session
    async with chat(gateway_live, session=token) as again:
        assert again.session == token
        assert [(h["direction"], h["from"]) for h in again.history] == [("in", "citizen"), ("out", "bot")]
        assert again.history[0]["text"] == "身份证丢了怎么办"


async def test_resent_client_id_is_not_answered_twice(gateway_live: LiveGateway) -> None:
    async with chat(gateway_live) as client:
        client_id = await client.say("社保卡丢了怎么办")
        first = await client.next_frame("ack")
        await client.next_frame("reply")
        await client.say("社保卡丢了怎么办", client_id=client_id)
        second = await client.next_frame("ack")
        assert second["inquiry_id"] == first["inquiry_id"]
        await client.say("营业执照怎么办理")
        third_ack = await client.next_frame("ack")
        next_reply = await client.next_frame("reply")
        assert (
            next_reply["inquiry_id"] == third_ack["inquiry_id"]
        )  # no second reply to the duplicate came first


async def test_unknown_session_token_starts_fresh_conversation(gateway_live: LiveGateway) -> None:
    token = uuid.uuid4().hex  # well-formed but never used
    async with chat(gateway_live, session=token) as client:
        assert client.session == token and client.history == []
    async with chat(gateway_live, session="bad.token") as client:
        assert client.session != "bad.token"


async def test_flood_is_closed_with_policy_violation(gateway_live: LiveGateway) -> None:
    async with chat(gateway_live) as client:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(200):
                await client.send_raw(json.dumps({"type": "typing"}))
            while True:
                await client.next_frame()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def _operator_token(live: LiveGateway, http: httpx.AsyncClient) -> str:
    from gateway import auth
    from gateway.store.models import User

    async with live.gateway.session_factory() as session, session.begin():
        session.add(User(name="olga", role="operator", password_hash=auth.hash_password("pw-olga-1")))
    response = await http.post("/api/v1/auth/login", json={"name": "olga", "password": "pw-olga-1"})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def test_operator_reply_reaches_citizen_live_and_on_reconnect(gateway_live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway_live.base_url) as http:
        headers = {"Authorization": f"Bearer {await _operator_token(gateway_live, http)}"}
        async with chat(gateway_live) as client:
            await client.say("我家楼下的路灯坏了三天了，谁来修")  # nothing in the demo KB: queued
            queued_reply = await client.next_frame("reply")
            assert queued_reply["from"] == "bot"
            conversation = await conversation_for(gateway_live, client.session)
            assert conversation is not None and conversation.status == "queued"
            assert str(conversation.id) in queued_reply["text"]  # the work-order number

            listed = (await http.get("/api/v1/conversations", headers=headers)).json()
            assert conversation.id in [c["id"] for c in listed]
            response = await http.post(
                f"/api/v1/conversations/{conversation.id}/reply",
                json={"text": "已通知路灯管理所，今天修复。"},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            live_reply = await client.next_frame("reply")
            assert live_reply == {**live_reply, "from": "operator", "text": "已通知路灯管理所，今天修复。"}
            token = client.session

        # The citizen is gone; a later reply waits for them.
        response = await http.post(
            f"/api/v1/conversations/{conversation.id}/reply",
            json={"text": "修好了，请查看。"},
            headers={**headers, "Idempotency-Key": "k1"},
        )
        again = await http.post(
            f"/api/v1/conversations/{conversation.id}/reply",
            json={"text": "修好了，请查看。"},
            headers={**headers, "Idempotency-Key": "k1"},
        )
        assert again.json()["message_id"] == response.json()["message_id"]
        async with chat(gateway_live, session=token) as back:
            texts = [h["text"] for h in back.history if h["from"] == "operator"]
            if len(texts) < 2:  # still in the outbox when the history was read: pushed live
                texts.append((await back.next_frame("reply"))["text"])
        assert texts == ["已通知路灯管理所，今天修复。", "修好了，请查看。"]


async def test_api_requires_token(gateway_live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway_live.base_url) as http:
        assert (await http.get("/api/v1/conversations")).status_code == 401
        assert (
            await http.get("/api/v1/conversations", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        assert (await http.post("/api/v1/auth/login", json={"name": "x", "password": "y"})).status_code == 401


async def test_storage_down_gives_error_and_no_ack(gateway_live: LiveGateway) -> None:
    from gateway.store.db import create_engine

    factory = gateway_live.gateway.session_factory
    original = factory.kw["bind"]
    async with chat(gateway_live) as client:
        broken = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        factory.configure(bind=broken)
        try:
            client_id = await client.say("社保卡丢了怎么办")
            frame = await client.next_frame("ack", "error")
        finally:
            factory.configure(bind=original)
            await broken.dispose()
        assert frame == {"type": "error", "error": "temporarily unavailable, please resend", "client_id": client_id}
        await client.say("社保卡丢了怎么办", client_id=client_id)  # the page resends with the same id
        assert (await client.next_frame("ack", "error"))["type"] == "ack"
