"""From raw mail bytes to a committed inquiry: parse, thread, guard against loops, handle bounces.

Used by both receivers (the SMTP listener and the IMAP pollers); neither acknowledges a message
before :meth:`InboundMail.receive` has returned, i.e. before the inquiry and its raw source are
committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import InquiryHandler
from gateway.delivery import DeliveryUpdate, record_delivery
from gateway.settings import Settings
from gateway.store.db import SessionFactory
from gateway.store.models import Contact, Conversation, Message, utcnow
from normalizer import Inquiry
from normalizer.email import ParsedEmail, parse_rfc822

log = logging.getLogger(__name__)

CHANNEL = "email"
# Larger messages are parsed on a worker thread so that the event loop stays responsive.
INLINE_PARSE_BYTES = 64 * 1024


class InboundMail:
    """Turns one raw message into a stored inquiry (see :meth:`receive`)."""

    def __init__(
        self, settings: Settings, session_factory: SessionFactory, on_message: InquiryHandler
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.on_message = on_message

    async def receive(self, raw: bytes, *, via: str) -> int:
        """Store ``raw`` as an inquiry and return its id once committed.

        Raises :class:`gateway.errors.StorageUnavailable` (the sender must retry later) or
        :class:`gateway.errors.BadInput` (empty message).
        """
        limit = self.settings.mail_max_attachment_bytes
        if len(raw) > INLINE_PARSE_BYTES:
            parsed = await asyncio.to_thread(parse_rfc822, raw, max_attachment_bytes=limit)
        else:
            parsed = parse_rfc822(raw, max_attachment_bytes=limit)
        inquiry = parsed.inquiry
        metadata = {**inquiry.metadata, "received_via": via}
        if parsed.dsn is not None:
            metadata["dsn"] = await self._apply_bounce(parsed)
        async with self.session_factory() as session:
            directive = await self._directive(session, parsed)
            key = await self._conversation_key(session, inquiry)
        if directive is not None:
            metadata["directive"] = directive
        stored = dataclasses.replace(inquiry, conversation_key=key, metadata=metadata, raw_source=raw)
        return await self.on_message(stored)

    async def _directive(self, session: AsyncSession, parsed: ParsedEmail) -> str | None:
        # RFC 3834 section 2: never answer automatic mail; RFC 5321 4.5.5: nor a null sender.
        if parsed.automatic is not None or not parsed.inquiry.sender:
            return "ignore"
        if (
            await self._answers_recently_sent(session, parsed.inquiry.sender)
            >= self.settings.mail_auto_answers_per_sender
        ):
            # Probably a loop with an auto-responder we did not recognise: a person decides.
            log.warning("e-mail loop guard: automatic answers to one sender exceeded the limit; queued")
            return "queue"
        return None

    async def _answers_recently_sent(self, session: AsyncSession, sender: str) -> int:
        # Walks contact → its conversations (ix_conversations_contact) → their messages
        # (ix_messages_conversation): cost follows this sender's history, not the table's.
        since = utcnow() - dt.timedelta(seconds=self.settings.mail_auto_answer_window_seconds)
        count = await session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(
                Message.channel == CHANNEL,
                Message.direction == "out",
                Message.author == "bot",
                Message.created_at >= since,
                Contact.channel == CHANNEL,
                Contact.address == sender,
            )
        )
        return int(count or 0)

    async def _apply_bounce(self, parsed: ParsedEmail) -> dict[str, object]:
        """Mark the bounced reply failed (RFC 3464); a delayed report changes nothing."""
        report = parsed.dsn
        assert report is not None
        summary: dict[str, object] = {
            "original_message_id": report.original_message_id,
            "status": report.status,
            "permanent": report.permanent,
            "delayed": report.delayed,
            "matched": False,
        }
        if report.original_message_id and report.permanent and not report.delayed:
            failed = next((r for r in report.recipients if r.permanent), None)
            update = DeliveryUpdate(
                channel=CHANNEL,
                provider_message_id=report.original_message_id,
                state="failed",
                error_code=(failed.status if failed else report.status) or None,
                reason=(failed.diagnostic if failed else "") or "bounced",
            )
            summary["matched"] = await record_delivery(self.session_factory, update)
        return summary

    async def _conversation_key(self, session: AsyncSession, inquiry: Inquiry) -> str:
        """The thread this message belongs to.

        RFC 5322 3.6.4: the first References entry is the thread root (the parser's key). When
        that is unknown, any referenced message we know (our own reply's Message-ID, say) gives
        its conversation; failing that, a ``[#12345]`` work-order tag in the subject does. A
        thread is only joined when it belongs to the same sender: guessing an id or a tag must
        not put a stranger's mail into a citizen's conversation.
        """
        metadata = inquiry.metadata
        referenced = [*(metadata.get("references") or []), metadata.get("in_reply_to")]
        referenced = [r for r in referenced if r]
        tag = metadata.get("work_order")
        if not referenced and not isinstance(tag, int):
            # A message that refers to nothing starts its own thread (the parser's key is its
            # own Message-ID); a redelivered copy is de-duplicated by the intake, not here.
            return inquiry.conversation_key
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.channel == CHANNEL, Conversation.key == inquiry.conversation_key
            )
        )
        if conversation is None and referenced:
            conversation = await session.scalar(
                select(Conversation)
                .join(Message, Message.conversation_id == Conversation.id)
                .where(Message.channel == CHANNEL, Message.provider_message_id.in_(referenced))
                .order_by(Message.id.desc())
                .limit(1)
            )
        if conversation is None and isinstance(tag, int):
            candidate = await session.get(Conversation, tag)
            if candidate is not None and candidate.channel == CHANNEL:
                conversation = candidate
        if conversation is None:
            return inquiry.conversation_key
        if conversation.contact.address != inquiry.sender:
            return inquiry.provider_message_id  # a new thread of its own
        return conversation.key
