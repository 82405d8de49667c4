"""The SMS channel through Twilio (registry name ``sms``); voice calls ride on it (``voice.py``).

Receiving (``POST /channels/twilio/sms``): the signature is checked over the public URL
(``webhook.py``), the form parsed by :func:`normalizer.twilio.parse_twilio_form`, keywords and
abuse guards turned into pipeline directives, MMS media fetched, and the inquiry committed; only
then does Twilio get its empty ``<Response/>`` (storage down: 503, so Twilio retries). A repeated
MessageSid is answered the same way and never replied to twice (the pipeline de-duplicates).

Sending: ``POST Messages.json`` with a ``StatusCallback`` to ``/channels/twilio/status``, whose
signed callbacks move the message through queued/sent/delivered/undelivered/failed. The outbox
records the SID with the send's outcome; a callback that overtakes that commit waits for it.
Opted-out numbers get nothing but control replies (the pipeline and the outbox see to that).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select

from channels.base import Capabilities, Channel, ChannelContext, Manifest, OutboundMessage, SendResult
from channels.twilio import guard as guards
from channels.twilio.rest import MAX_BODY_CHARS, Sent, TwilioRest
from channels.twilio.voice import VOICE_PREFIX, VoiceFlow
from channels.twilio.webhook import read_signed_form
from gateway.contacts import clear_opted_out, set_opted_out
from gateway.delivery import DeliveryUpdate, record_delivery
from gateway.errors import BadInput, PermanentSendError, RetryableSendError, StorageUnavailable
from gateway.retry import STORAGE_ERRORS
from gateway.settings import Settings
from gateway.store.models import Contact, Conversation, Message
from normalizer.inquiry import Inquiry
from normalizer.phone import mask_phone
from normalizer.twilio import empty_messaging_response, parse_status_callback, parse_twilio_form

log = logging.getLogger(__name__)

UNSUBSCRIBED = "21610"  # Twilio: "Attempt to send to unsubscribed recipient"
# Twilio stamps date_created with its own clock, to the second; ours may differ by this much.
CLOCK_SKEW = dt.timedelta(minutes=2)
# Twilio's message statuses → the gateway's delivery states (gateway/delivery.py ranks them).
_STATES = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def _with_directive(inquiry: Inquiry, directive: str, text: str = "", **extra: Any) -> Inquiry:
    metadata = {**inquiry.metadata, "directive": directive, **extra}
    if directive == "reply":
        metadata["directive_text"] = text
    return dataclasses.replace(inquiry, metadata=metadata)


class SmsChannel(Channel):
    MANIFEST = Manifest(
        name="sms",
        title="SMS and voice (Twilio)",
        capabilities=Capabilities(max_text_chars=MAX_BODY_CHARS, max_segments=3, media_types=()),
        settings_keys=(
            "twilio_account_sid",
            "twilio_auth_token",
            "twilio_from",
            "twilio_api_base",
            "twilio_max_segments",
        ),
    )

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        assert settings.twilio_account_sid and settings.twilio_auth_token
        self.rest = TwilioRest(
            settings.twilio_api_base,
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            timeout=settings.twilio_request_timeout_seconds,
        )
        self.guard = guards.SenderGuard(
            settings.twilio_rate_limit_per_hour,
            settings.twilio_loop_repeats,
            settings.twilio_loop_window_seconds,
        )
        self.voice = VoiceFlow(self)
        self._unrecorded: dict[str, asyncio.Event] = {}  # SIDs sent whose outcome is not committed
        self._router = APIRouter()
        self._router.add_api_route(
            "/channels/twilio/sms", self.receive_sms, methods=["POST"], include_in_schema=False
        )
        self._router.add_api_route(
            "/channels/twilio/status", self.receive_status, methods=["POST"], include_in_schema=False
        )
        self._router.include_router(self.voice.router)

    @classmethod
    def from_config(cls, settings: Settings, context: ChannelContext) -> SmsChannel | None:
        if not (settings.twilio_enabled and settings.twilio_from):
            return None
        return cls(settings, context)

    @property
    def capabilities(self) -> Capabilities:
        return dataclasses.replace(self.MANIFEST.capabilities, max_segments=self.settings.twilio_max_segments)

    @property
    def router(self) -> APIRouter:
        return self._router

    async def aclose(self) -> None:
        await self.rest.aclose()

    # ----------------------------------------------------------------- inbound

    async def _signed_form(self, request: Request) -> dict[str, list[str]]:
        return await read_signed_form(
            request, self.settings.public_url, self.settings.twilio_auth_token or ""
        )

    async def receive_sms(self, request: Request) -> Response:
        form = await self._signed_form(request)
        try:
            inquiry = parse_twilio_form(form, default_region=self.settings.twilio_default_region)
        except BadInput as exc:
            raise HTTPException(400, str(exc)) from exc
        assert self.on_message is not None, "start() was not called"
        try:
            inquiry = await self._screen(inquiry)
            await self.on_message(inquiry)
        except (StorageUnavailable, *STORAGE_ERRORS) as exc:
            raise HTTPException(503, "temporarily unavailable, please retry") from exc
        except BadInput as exc:
            raise HTTPException(400, str(exc)) from exc
        return Response(empty_messaging_response(), media_type="application/xml")

    async def _screen(self, inquiry: Inquiry) -> Inquiry:
        """Keywords, opt-out state and abuse guards as pipeline directives; then MMS media."""
        settings, factory, sender = self.settings, self.context.session_factory, inquiry.sender
        keyword = inquiry.metadata.get("keyword")
        if keyword == "stop":
            # Recorded before the inquiry, so no reply decided after this point can go out.
            await set_opted_out(factory, self.name, sender)
            log.info("sms contact %s opted out", mask_phone(sender))
            return self._control(inquiry, settings.twilio_stop_text)
        if keyword == "start":
            await clear_opted_out(factory, self.name, sender)
            return self._control(inquiry, settings.twilio_start_text)
        if keyword == "help":
            return self._control(inquiry, settings.twilio_help_text)
        verdict = self.guard.check(sender, inquiry.text)
        if verdict == guards.LOOP:
            log.warning("sms contact %s repeats itself: auto-responder loop suspected", mask_phone(sender))
            return _with_directive(inquiry, "queue", guard="loop")
        if verdict == guards.RATE_LIMITED:
            return _with_directive(inquiry, "ignore", guard="rate_limited")
        return await self._with_media(inquiry)

    @staticmethod
    def _control(inquiry: Inquiry, text: str) -> Inquiry:
        return _with_directive(inquiry, "reply", text) if text else _with_directive(inquiry, "ignore")

    async def _with_media(self, inquiry: Inquiry) -> Inquiry:
        media = inquiry.metadata.get("media") or []
        if not media:
            return inquiry
        allowed = frozenset(t.lower() for t in self.settings.twilio_media_types)
        attachments = await asyncio.gather(
            *(
                self.rest.fetch_media(
                    i,
                    m["url"],
                    m.get("content_type"),
                    max_bytes=self.settings.twilio_media_max_bytes,
                    allowed=allowed,
                )
                for i, m in enumerate(media)
            )
        )
        return dataclasses.replace(inquiry, attachments=tuple(attachments))

    async def receive_status(self, request: Request) -> Response:
        form = await self._signed_form(request)
        try:
            status = parse_status_callback(form)
        except BadInput as exc:
            raise HTTPException(400, str(exc)) from exc
        state = _STATES.get(status.status)
        if state is None:  # receiving/received: statuses of inbound messages, nothing to record
            return Response(status_code=204)
        update_ = DeliveryUpdate(
            self.name, status.message_sid, state, status.error_code, status.error_message
        )
        try:
            found = await record_delivery(self.context.session_factory, update_)
            pending = self._unrecorded.get(status.message_sid)
            if not found and pending is not None:
                # The callback overtook the outbox recording the send: apply it once that is done.
                await asyncio.wait_for(pending.wait(), 5)
                found = await record_delivery(self.context.session_factory, update_)
            if status.error_code == UNSUBSCRIBED:
                recipient = await self._recipient_of(status.message_sid)
                if recipient:
                    await set_opted_out(self.context.session_factory, self.name, recipient)
        except (TimeoutError, *STORAGE_ERRORS) as exc:
            raise HTTPException(503, "temporarily unavailable") from exc
        if not found:
            log.info("status callback for an unknown message (%s)", status.raw_status)
        return Response(status_code=204)

    async def _recipient_of(self, sid: str) -> str | None:
        async with self.context.session_factory() as session:
            return await session.scalar(
                select(Contact.address)
                .join(Conversation, Conversation.contact_id == Contact.id)
                .join(Message, Message.conversation_id == Conversation.id)
                .where(
                    Message.channel == self.name,
                    Message.direction == "out",
                    Message.provider_message_id == sid,
                )
            )

    # ----------------------------------------------------------------- outbound

    async def send(self, message: OutboundMessage) -> SendResult:
        voice_bot = message.conversation_key.startswith(VOICE_PREFIX) and message.author == "bot"
        if voice_bot and self.voice.deliver(message):  # spoken to the caller waiting for it
            return SendResult(provider_message_id=None, status="delivered")
        whatsapp = message.conversation_key.startswith("whatsapp:")
        text = (
            message.text if len(message.text) <= MAX_BODY_CHARS else message.text[: MAX_BODY_CHARS - 1] + "…"
        )
        form = {
            "To": ("whatsapp:" if whatsapp else "") + message.recipient,
            "From": ("whatsapp:" if whatsapp else "") + (self.settings.twilio_from or ""),
            "Body": text,
            "StatusCallback": f"{self.settings.public_url}/channels/twilio/status",
        }
        earlier = await self._accepted_earlier(form, message) if message.attempt > 1 else None
        try:
            sent = earlier or await self.rest.create_message(form)
        except PermanentSendError as exc:
            if exc.code == UNSUBSCRIBED:
                try:
                    await set_opted_out(self.context.session_factory, self.name, message.recipient)
                except STORAGE_ERRORS:
                    log.warning("could not record an opt-out reported by Twilio")
            raise
        # Until the outbox commits this SID, a status callback cannot find the message: it waits.
        self._unrecorded.setdefault(sent.sid, asyncio.Event())
        return SendResult(provider_message_id=sent.sid, status="sent")

    async def _accepted_earlier(self, form: dict[str, str], message: OutboundMessage) -> Sent | None:
        """The message an earlier try of this reply got accepted, if Twilio has one.

        Twilio is asked for messages with the same To, From and Body since the reply was queued
        (less :data:`CLOCK_SKEW`: Twilio's clock is not ours). One that another reply of ours
        already recorded is not this one's: the same answer may go to the same citizen twice.
        """
        since = (message.queued_at or dt.datetime.now(dt.UTC)) - CLOCK_SKEW
        candidates = await self.rest.find_accepted(form, since)
        if not candidates:
            return None
        try:
            async with self.context.session_factory() as session:
                recorded = set(
                    await session.scalars(
                        select(Message.provider_message_id).where(
                            Message.channel == self.name,
                            Message.direction == "out",
                            Message.provider_message_id.in_([c.sid for c in candidates]),
                        )
                    )
                )
        except STORAGE_ERRORS as exc:
            raise RetryableSendError("storage unavailable while checking an earlier try") from exc
        mine = next((c for c in candidates if c.sid not in recorded), None)
        if mine is not None:
            log.info("reply %s: an earlier try was accepted (%s); not sent again", message.message_id, mine.sid)
        return mine

    def send_recorded(self, result: SendResult) -> None:
        if result.provider_message_id is not None:
            event = self._unrecorded.pop(result.provider_message_id, None)
            if event is not None:
                event.set()
