"""Nothing acknowledged is lost, nothing is answered twice: crashes, restarts, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import uuid

import websockets
from sqlalchemy import func, select

from gateway.runtime import Gateway
from gateway.store.db import create_engine, create_session_factory
from gateway.store.models import Message, OutboxItem
from normalizer import Inquiry
from tests.channels.webchat_driver import FRAME_TIMEOUT, chat
from tests.support.live import live_gateway, settings_for_test
from tests.support.process import gateway_process

QUESTIONS = ["第一次办身份证需要什么材料", "社保卡丢了怎么办", "营业执照怎么办理", "公积金怎么提取"]


async def _count(database_url: str, *criteria) -> int:  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Message).where(*criteria)) or 0)
    finally:
        await engine.dispose()


async def test_acknowledged_messages_survive_kill_9_and_are_answered_once(database_url: str) -> None:
    acked: list[int] = []
    async with gateway_process(database_url, GATEWAY_WEBCHAT_MESSAGES_PER_MINUTE="600") as server:
        async with websockets.connect(server.ws_url) as socket:
            session = json.loads(await socket.recv())["session"]
            for n in range(12):
                await socket.send(
                    json.dumps(
                        {"type": "message", "text": QUESTIONS[n % len(QUESTIONS)], "client_id": f"m{n}"}
                    )
                )
            while len(acked) < 12:
                frame = json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT))
                assert frame["type"] != "error", frame
                if frame["type"] == "ack":
                    acked.append(frame["inquiry_id"])
            server.kill_hard()  # no drain, no clean shutdown
        await server.process.wait()

    assert await _count(database_url, Message.direction == "in") == 12  # every ack was durable

    async with gateway_process(database_url) as server:
        async with websockets.connect(f"{server.ws_url}?session={session}") as socket:
            history = json.loads(await socket.recv())["history"]
            replied = {h["inquiry_id"] for h in history if h["direction"] == "out"}
            while replied != set(acked):
                frame = json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT))
                if frame["type"] == "reply":
                    assert frame["inquiry_id"] not in replied, "a reply was delivered twice"
                    replied.add(frame["inquiry_id"])
        assert await server.stop() == 0  # SIGTERM drains and exits 0
    assert await _count(database_url, Message.direction == "out") == 12


async def test_accepted_but_undecided_inquiry_is_answered_after_restart(database_url: str) -> None:
    settings = settings_for_test(database_url)
    gateway = await Gateway.open(settings)
    token = uuid.uuid4().hex
    inquiry_id = await gateway.pipeline.accept(
        Inquiry(
            channel="webchat",
            sender=token,
            conversation_key=token,
            text="身份证丢了怎么办",
            provider_message_id="x1",
        )
    )
    await gateway.aclose()  # "crash": the decision loop never ran

    assert await _count(database_url, Message.id == inquiry_id, Message.state == "received") == 1
    async with live_gateway(settings) as live, chat(live, session=token) as client:
        replies = [h for h in client.history if h["direction"] == "out"]
        if not replies:
            replies = [await client.next_frame("reply")]
        assert [r["inquiry_id"] for r in replies] == [inquiry_id]
    # After the graceful stop every send in flight has been recorded.
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            outbox = list(await session.scalars(select(OutboxItem)))
    finally:
        await engine.dispose()
    assert [item.status for item in outbox] == ["sent"]
    assert await _count(database_url, Message.in_reply_to_id == inquiry_id) == 1
