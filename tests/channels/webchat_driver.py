"""Drives the web-chat channel over a real socket for the shared harness."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from sqlalchemy import select

from gateway.replies import enqueue_reply
from gateway.store.models import Conversation
from gateway.store.upsert import get_or_create_contact, get_or_create_conversation
from tests.channels.harness import Delivery
from tests.support.live import LiveGateway

FRAME_TIMEOUT = 10


class ChatClient:
    """A citizen's socket: remembers the session token and reads typed frames."""

    def __init__(self, socket: websockets.ClientConnection, session_frame: dict[str, Any]) -> None:
        self.socket = socket
        self.session: str = session_frame["session"]
        self.history: list[dict[str, Any]] = session_frame["history"]

    async def send_raw(self, raw: str | bytes) -> None:
        await self.socket.send(raw)

    async def say(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.socket.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
        return client_id

    async def next_frame(self, *types: str) -> dict[str, Any]:
        """The next frame (of one of ``types``, others are skipped)."""
        while True:
            frame = json.loads(await asyncio.wait_for(self.socket.recv(), FRAME_TIMEOUT))
            if not types or frame["type"] in types:
                return frame


@asynccontextmanager
async def chat(live: LiveGateway, session: str | None = None) -> AsyncIterator[ChatClient]:
    url = live.ws_url + (f"?session={session}" if session else "")
    async with websockets.connect(url) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT))
        assert first["type"] == "session"
        yield ChatClient(socket, first)


class WebchatDriver:
    async def deliver(self, live: LiveGateway, raw: Any) -> Delivery:
        async with chat(live) as client:
            await client.send_raw(
                raw if isinstance(raw, (str, bytes)) else json.dumps(raw, ensure_ascii=False)
            )
            frame = await client.next_frame("ack", "error")
            return Delivery(outcome=frame["type"], inquiry_id=frame.get("inquiry_id"))

    async def observe_send(self, live: LiveGateway, reply: dict[str, Any]) -> dict[str, Any]:
        async with chat(live) as client:
            async with live.gateway.session_factory() as session, session.begin():
                contact = await get_or_create_contact(session, "webchat", client.session)
                conversation = await get_or_create_conversation(
                    session, "webchat", client.session, contact.id
                )
                enqueue_reply(
                    session,
                    conversation,
                    reply["text"],
                    author=reply.get("author", "bot"),
                    recipient=client.session,
                    options=reply.get("options"),
                )
            live.gateway.outbox.notify()
            return await client.next_frame("reply")


async def conversation_for(live: LiveGateway, session_token: str) -> Conversation | None:
    async with live.gateway.session_factory() as session:
        return await session.scalar(
            select(Conversation).where(Conversation.channel == "webchat", Conversation.key == session_token)
        )
