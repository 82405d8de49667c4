"""Drives the Twilio SMS/voice channel over real sockets for the shared harness.

Inbound webhooks are signed with the official twilio SDK's ``RequestValidator`` (not with the
gateway's own code), over the gateway's public URL, exactly as Twilio would; outbound replies are
observed at the local Twilio REST double (``tests/doubles/twilio_api.py``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from gateway.replies import enqueue_reply
from gateway.store.models import Message
from gateway.store.upsert import get_or_create_contact, get_or_create_conversation
from tests.channels.harness import Delivery
from tests.doubles.twilio_api import TwilioDouble
from tests.support.live import LiveGateway, live_gateway, settings_for_test

OUR_NUMBER = "+8657112345"  # the platform's Twilio number (From of every reply)
CITIZEN = "+8613800138000"
SMS_PATH = "/channels/twilio/sms"
STATUS_PATH = "/channels/twilio/status"


def free_port() -> int:
    """A free loopback port, so the public URL (signed by Twilio) is known before start-up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def twilio_gateway(database_url: str, tw: TwilioDouble, **overrides: Any) -> AsyncIterator[LiveGateway]:
    """A running gateway with the ``sms`` channel pointed at the Twilio double."""
    port = free_port()
    values: dict[str, Any] = {
        "http_port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "channels_enabled": ["webchat", "sms"],
        "twilio_account_sid": tw.account_sid,
        "twilio_auth_token": tw.auth_token,
        "twilio_from": OUR_NUMBER,
        "twilio_api_base": tw.base_url,
    }
    values.update(overrides)
    async with live_gateway(settings_for_test(database_url, **values)) as live:
        yield live


def sms_form(body: str, sid: str, sender: str = CITIZEN, **extra: str) -> dict[str, str]:
    """An inbound SMS webhook form as Twilio sends it."""
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@dataclass(frozen=True)
class Webhook:
    """One request as Twilio would make it. ``signature``: ``valid``, ``forged`` or ``missing``;
    ``signed_url`` overrides the URL the signature covers (default: public URL + path)."""

    params: Mapping[str, str]
    path: str = SMS_PATH
    signature: str = "valid"
    signed_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def post_webhook(live: LiveGateway, token: str, hook: Webhook) -> httpx.Response:
    settings = live.gateway.settings
    url = hook.signed_url or settings.public_url + hook.path
    headers = dict(hook.headers)
    if hook.signature == "valid":
        headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url, dict(hook.params))
    elif hook.signature == "forged":
        headers["X-Twilio-Signature"] = RequestValidator("not-the-token").compute_signature(
            url, dict(hook.params)
        )
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        return await http.post(hook.path, data=dict(hook.params), headers=headers)


async def inquiry_id_for(live: LiveGateway, sid: str) -> int | None:
    async with live.gateway.session_factory() as session:
        return await session.scalar(
            select(Message.id).where(
                Message.channel == "sms", Message.direction == "in", Message.provider_message_id == sid
            )
        )


class TwilioDriver:
    """The shared harness's driver: ``raw`` is a :class:`Webhook` (or a bare form dict)."""

    def __init__(self, tw: TwilioDouble) -> None:
        self.tw = tw

    async def deliver(self, live: LiveGateway, raw: Any) -> Delivery:
        hook = raw if isinstance(raw, Webhook) else Webhook(raw)
        response = await post_webhook(live, self.tw.auth_token, hook)
        sid = hook.params.get("MessageSid") or hook.params.get("SmsSid") or ""
        found = await inquiry_id_for(live, sid) if response.is_success and hook.path == SMS_PATH else None
        return Delivery(response.status_code, found)

    async def observe_send(self, live: LiveGateway, reply: dict[str, Any]) -> dict[str, Any]:
        before = len(self.tw.messages)
        recipient = reply.get("recipient", CITIZEN)
        async with live.gateway.session_factory() as session, session.begin():
            contact = await get_or_create_contact(session, "sms", recipient)
            conversation = await get_or_create_conversation(
                session, "sms", reply.get("conversation_key", f"{recipient}|{OUR_NUMBER}"), contact.id
            )
            enqueue_reply(
                session,
                conversation,
                reply["text"],
                author=reply.get("author", "bot"),
                recipient=recipient,
                metadata=reply.get("metadata"),
            )
        live.gateway.outbox.notify()
        sent = await self.tw.wait_for_messages(before + 1, timeout=10)
        return dict(sent[before])
