"""Drives the e-mail channel over real sockets for the shared harness.

Inbound: an SMTP client session against the gateway's listener; the outcome is the first reply
code that refused something, else the DATA reply's code (the session is abandoned at the first
refusal, so a refused message is never half-sent). Outbound: a reply is written to the outbox
the way the pipeline writes one and the relay double's copy is summarised.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from channels.email import EmailChannel
from gateway.replies import enqueue_reply
from gateway.settings import Settings
from gateway.store.models import Message
from gateway.store.upsert import get_or_create_contact, get_or_create_conversation
from tests.channels.harness import Delivery
from tests.doubles.smtp_relay import RelayedMail, SmtpRelayDouble
from tests.support.dovecot import free_port
from tests.support.live import LiveGateway, live_gateway, outbox_settled, settings_for_test

DOMAIN = "gateway.test"
SERVICE = f"service@{DOMAIN}"
_QUEUED_AS = re.compile(r"queued as (\d+)")


def email_settings(database_url: str, relay: SmtpRelayDouble | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "channels_enabled": ["webchat", "email"],
        "smtp_port": free_port(),
        "smtp_relay_url": relay.url if relay is not None else None,
        "mail_domains": [DOMAIN],
        "mail_from": SERVICE,
    }
    values.update(overrides)
    return settings_for_test(database_url, **values)


@asynccontextmanager
async def email_gateway(
    database_url: str, relay: SmtpRelayDouble | None, **overrides: Any
) -> AsyncIterator[LiveGateway]:
    async with live_gateway(email_settings(database_url, relay, **overrides)) as live:
        yield live


def smtp_port(live: LiveGateway) -> int:
    channel = live.gateway.channels["email"]
    assert isinstance(channel, EmailChannel) and channel.smtp_port is not None
    return channel.smtp_port


def mail(
    text: str,
    *,
    subject: str = "咨询",
    sender: str = "citizen@example.org",
    to: str = f"office@{DOMAIN}",
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    """A small RFC 5322 message with a fresh Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text, charset=charset)
    return msg.as_bytes()


@dataclass
class Envelope:
    data: bytes
    rcpt: tuple[str, ...] = (f"office@{DOMAIN}",)
    mail_from: str = "citizen@example.org"
    mail_options: tuple[str, ...] = field(default_factory=tuple)


async def smtp_session(port: int, envelope: Envelope) -> tuple[int, str]:
    """One SMTP transaction; returns (code, text) of the first refusal or of DATA."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
    await client.connect()
    try:
        await client.ehlo()
        try:
            # RFC 6531: with SMTPUTF8 the envelope addresses are UTF-8.
            encoding = "utf-8" if "SMTPUTF8" in envelope.mail_options else "ascii"
            await client.mail(envelope.mail_from, options=list(envelope.mail_options), encoding=encoding)
            for rcpt in envelope.rcpt:
                await client.rcpt(rcpt, encoding=encoding)
            response = await client.data(envelope.data)
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message
        return response.code, response.message
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


class EmailDriver:
    """The harness driver; ``raw`` is an :class:`Envelope` or plain message bytes."""

    def __init__(self, relay: SmtpRelayDouble | None) -> None:
        self.relay = relay

    async def deliver(self, live: LiveGateway, raw: Any) -> Delivery:
        envelope = raw if isinstance(raw, Envelope) else Envelope(raw)
        code, text = await smtp_session(smtp_port(live), envelope)
        match = _QUEUED_AS.search(text)
        return Delivery(outcome=code, inquiry_id=int(match.group(1)) if match else None)

    async def observe_send(self, live: LiveGateway, reply: dict[str, Any]) -> dict[str, Any]:
        assert self.relay is not None
        root = f"root-{uuid.uuid4().hex}@example.org"
        async with live.gateway.session_factory() as session, session.begin():
            contact = await get_or_create_contact(session, "email", "citizen@example.org")
            conversation = await get_or_create_conversation(session, "email", root, contact.id, "咨询")
            inbound = Message(
                conversation_id=conversation.id,
                channel="email",
                direction="in",
                author="citizen",
                provider_message_id=reply.get("in_reply_to", root),
                text="…",
                state="decided",
            )
            session.add(inbound)
            await session.flush()
            out = enqueue_reply(
                session,
                conversation,
                reply["text"],
                author=reply.get("author", "bot"),
                recipient="citizen@example.org",
                in_reply_to=inbound,
                metadata=reply.get("metadata"),
            )
        message_id, work_order = out.id, conversation.id  # ids are assigned by the commit's flush
        live.gateway.outbox.notify()
        received = await self.relay.next_mail()
        item = await outbox_settled(live, message_id)  # recorded just after the relay's 250
        return summarize(
            received, root=root, work_order=work_order, provider_id=item.provider_message_id
        )


def summarize(mail: RelayedMail, *, root: str, work_order: int, provider_id: str | None) -> dict[str, Any]:
    """The fields of a relayed reply the outbound cases compare; placeholders for per-run values."""
    msg = mail.message
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    subject = str(msg["Subject"]).replace(f"[#{work_order}]", "[#N]")
    message_id = str(msg["Message-ID"]).strip("<>")
    return {
        "to": list(mail.rcpt_tos),
        "from": str(msg["From"]),
        "subject": subject,
        "in_reply_to": str(msg["In-Reply-To"]).replace(root, "ROOT"),
        "references": str(msg["References"]).replace(root, "ROOT"),
        "auto_submitted": msg["Auto-Submitted"],
        "content_type": msg.get_content_type(),
        "text": plain.get_content().replace("\r\n", "\n").rstrip("\n") if plain else None,
        "html": html.get_content().replace("\r\n", "\n") if html else None,
        "message_id_domain": message_id.rpartition("@")[2],
        "message_id_recorded": provider_id == message_id,
    }
