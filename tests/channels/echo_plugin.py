"""A third-party channel written by following docs/adding-a-channel.md, loaded by dotted path."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from channels.base import Capabilities, Channel, ChannelContext, Manifest, OutboundMessage, SendResult
from gateway.errors import BadInput, StorageUnavailable
from gateway.settings import Settings
from normalizer import Inquiry
from normalizer.text import clean_text, guess_language


class EchoChannel(Channel):
    MANIFEST = Manifest(name="echo", title="Echo", capabilities=Capabilities(max_text_chars=500))

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        self.sent: asyncio.Queue[OutboundMessage] = asyncio.Queue()
        self._router = APIRouter()
        self._router.add_api_route("/channels/echo/in", self.receive, methods=["POST"])

    @property
    def router(self) -> APIRouter:
        return self._router

    async def receive(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        text = clean_text(str(body.get("text", "")))
        if not text or not body.get("id") or not body.get("from"):
            raise HTTPException(400, "text, id and from are required")
        inquiry = Inquiry(
            channel="echo",
            sender=body["from"],
            conversation_key=body["from"],
            text=text,
            language=guess_language(text),
            provider_message_id=body["id"],
        )
        assert self.on_message is not None
        try:
            inquiry_id = await self.on_message(inquiry)
        except StorageUnavailable:
            raise HTTPException(503, "try again later") from None
        except BadInput as exc:
            raise HTTPException(400, str(exc)) from None
        return {"inquiry_id": inquiry_id}

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.put_nowait(message)
        return SendResult(provider_message_id=f"echo-{message.message_id}")
