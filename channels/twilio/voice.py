"""Voice calls through Twilio: speech in, answer spoken, a voice message when nothing matches.

Call flow (TwiML reference: ``<Gather>``, ``<Say>``, ``<Record>``):

1. ``POST /channels/twilio/voice`` (the number's "A call comes in" webhook): greet and
   ``<Gather input="speech" language="zh-CN">`` (``?lang=en`` on the URL selects English).
2. ``POST /channels/twilio/voice/gather``: Twilio posts ``SpeechResult``. It becomes an inquiry on
   the ``sms`` channel (the caller's number is the contact, so a later answer can be texted) in
   the conversation ``voice:<CallSid>``: one call, one work order. The pipeline decides as for any
   message; the bot's reply is spoken with ``<Say>`` and the caller may ask again.
3. When the pipeline queues it for a person, the caller is asked to leave a message (``<Record>``
   with ``transcribe``). ``POST /channels/twilio/voice/transcription`` turns the transcription
   into a queued inquiry (directive ``queue``); the operator's answer later goes out by SMS.

Bot replies in a voice conversation are handed to the waiting webhook by :meth:`VoiceFlow.deliver`;
one whose caller is no longer waiting (timeout, another process) is texted instead, so an answer
is never lost (at worst it is heard and also texted).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from channels.base import OutboundMessage
from channels.twilio.webhook import first, read_signed_form
from gateway.errors import BadInput, StorageUnavailable
from gateway.store.models import Message
from normalizer.inquiry import Inquiry
from normalizer.phone import to_e164
from normalizer.text import clean_text
from normalizer.twilio import voice_gather, voice_record, voice_say_hangup, voice_say_then_gather

if TYPE_CHECKING:
    from channels.twilio.channel import SmsChannel

VOICE_PREFIX = "voice:"
_POLL_SECONDS = 0.5  # how often the database is checked when the reply is decided elsewhere
_TEXTS = {
    "zh": {
        "greet": "您好，这里是阳光政务咨询平台。请在提示后说出您的问题。",
        "more": "还有其他问题吗？请直接说出，或挂断电话。",
        "again": "抱歉，没有听清，请再说一遍您的问题。",
        "record": "抱歉，暂时没有找到答案。请在提示音后留言，工作人员会以短信答复您。",
        "bye": "谢谢您的来电，再见。",
        "later": "您的问题已收到，答复将以短信发送给您。再见。",
        "unknown": "抱歉，无法识别您的号码，请改用短信咨询。再见。",
        "untranscribed": "（语音留言，未能自动转写，请收听录音）",
    },
    "en": {
        "greet": "Hello, this is the public service line. Please say your question after the tone.",
        "more": "Anything else? Please ask, or hang up.",
        "again": "Sorry, I did not catch that. Please say your question again.",
        "record": "Sorry, no answer was found. Please leave a message after the beep; we will reply by text.",
        "bye": "Thank you for calling. Goodbye.",
        "later": "Your question was received; the answer will come by text message. Goodbye.",
        "unknown": "Sorry, your number could not be recognised. Please send us a text message. Goodbye.",
        "untranscribed": "(voice message, not transcribed: please listen to the recording)",
    },
}
_LINK = re.compile(r"\s*(?:详情|More)?[:：]?\s*https?://\S+")


def spoken(text: str) -> str:
    """``text`` as it should be read aloud: links (useless on the phone) removed."""
    return _LINK.sub("", text).strip()


def _xml(body: str) -> Response:
    return Response(body, media_type="application/xml")


class VoiceFlow:
    """The voice routes of one :class:`~channels.twilio.channel.SmsChannel`."""

    def __init__(self, channel: SmsChannel) -> None:
        self.channel = channel
        self._waiters: dict[int, asyncio.Future[str]] = {}
        self.router = APIRouter()
        for path, handler in (
            ("/channels/twilio/voice", self.incoming),
            ("/channels/twilio/voice/gather", self.gathered),
            ("/channels/twilio/voice/recorded", self.recorded),
            ("/channels/twilio/voice/transcription", self.transcribed),
        ):
            self.router.add_api_route(path, handler, methods=["POST"], include_in_schema=False)

    # ----------------------------------------------------------------- helpers

    def _language(self, request: Request) -> tuple[str, str]:
        """(``zh``/``en``, the BCP-47 tag for Twilio's speech recognition and ``<Say>``)."""
        if request.query_params.get("lang", "").lower().startswith("en"):
            return "en", "en-US"
        tag = self.channel.settings.twilio_voice_language
        return ("en" if tag.lower().startswith("en") else "zh"), tag

    def _url(self, path: str, lang: str) -> str:
        return f"{self.channel.settings.public_url}/channels/twilio/voice/{path}" + (
            "?lang=en" if lang == "en" else ""
        )

    async def _form(self, request: Request) -> dict[str, list[str]]:
        settings = self.channel.settings
        return await read_signed_form(request, settings.public_url, settings.twilio_auth_token or "")

    def _goodbye(self, text: str, tag: str) -> Response:
        return _xml(voice_say_hangup(text, tag))

    def deliver(self, message: OutboundMessage) -> bool:
        """Hand a bot reply to the caller waiting for it; False when nobody is waiting."""
        waiter = self._waiters.get(message.inquiry_id or -1)
        if waiter is None or waiter.done():
            return False
        waiter.set_result(message.text)
        return True

    async def _accept(self, inquiry: Inquiry) -> int:
        handler: Callable[[Inquiry], Awaitable[int]] | None = self.channel.on_message
        assert handler is not None, "start() was not called"
        try:
            return await handler(inquiry)
        except StorageUnavailable as exc:
            raise HTTPException(503, "temporarily unavailable") from exc
        except BadInput as exc:
            raise HTTPException(400, str(exc)) from exc

    async def _decided(self, inquiry_id: int) -> tuple[str, str] | None:
        async with self.channel.context.session_factory() as session:
            row = (
                await session.execute(select(Message.state, Message.decision).where(Message.id == inquiry_id))
            ).first()
            if row is None or row.state == "received":
                return None
            text = await session.scalar(
                select(Message.text)
                .where(Message.in_reply_to_id == inquiry_id, Message.direction == "out")
                .order_by(Message.id)
                .limit(1)
            )
        return str(row.decision or "queue"), text or ""

    async def _wait_for_reply(self, inquiry_id: int, timeout: float) -> tuple[str, str] | None:
        """(decision, reply text) once the pipeline decided ``inquiry_id``; None after ``timeout``."""
        loop = asyncio.get_running_loop()
        waiter = self._waiters.setdefault(inquiry_id, loop.create_future())
        deadline = loop.time() + timeout
        try:
            while True:
                decided = await self._decided(inquiry_id)
                if decided is not None and (decided[1] or decided[0] in ("queue", "ignore")):
                    return decided
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), min(_POLL_SECONDS, remaining))
                except TimeoutError:
                    continue
                decided = await self._decided(inquiry_id)
                return (decided[0] if decided else "answer"), waiter.result()
        finally:
            self._waiters.pop(inquiry_id, None)

    # ----------------------------------------------------------------- routes

    async def incoming(self, request: Request) -> Response:
        await self._form(request)
        lang, tag = self._language(request)
        return _xml(voice_gather(_TEXTS[lang]["greet"], tag, self._url("gather", lang)))

    async def gathered(self, request: Request) -> Response:
        form = await self._form(request)
        lang, tag = self._language(request)
        texts = _TEXTS[lang]
        call_sid, speech = first(form, "CallSid").strip(), clean_text(first(form, "SpeechResult"))
        if not call_sid:
            raise HTTPException(400, "Twilio request has no 'CallSid' field")
        if not speech:
            return _xml(voice_gather(texts["again"], tag, self._url("gather", lang)))
        try:
            caller = to_e164(first(form, "From"), self.channel.settings.twilio_default_region, strict=False)
        except BadInput:
            return self._goodbye(texts["unknown"], tag)  # anonymous caller: no number to answer
        digest = hashlib.sha256(speech.encode()).hexdigest()[:16]
        inquiry = Inquiry(
            channel="sms",
            sender=caller,
            recipient=first(form, "To"),
            text=speech,
            # Twilio retries a webhook it got no answer to: the same words in the same call are one inquiry.
            provider_message_id=f"{call_sid}:{digest}",
            conversation_key=VOICE_PREFIX + call_sid,
            language=lang,
            metadata={
                "voice": True,
                "call_sid": call_sid,
                "speech_confidence": first(form, "Confidence") or None,
            },
        )
        try:
            inquiry_id = await self._accept(inquiry)
            reply = await self._wait_for_reply(inquiry_id, self.channel.settings.twilio_voice_answer_seconds)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise HTTPException(503, "temporarily unavailable") from exc
        if reply is None:
            return self._goodbye(texts["later"], tag)
        decision, text = reply
        if decision in ("queue", "ignore"):
            return _xml(
                voice_record(
                    texts["record"],
                    self._url("recorded", lang),
                    self._url("transcription", lang),
                    language=tag,
                )
            )
        return _xml(voice_say_then_gather(spoken(text), texts["more"], tag, self._url("gather", lang)))

    async def recorded(self, request: Request) -> Response:
        await self._form(request)
        lang, tag = self._language(request)
        return self._goodbye(_TEXTS[lang]["bye"], tag)

    async def transcribed(self, request: Request) -> Response:
        """Twilio's transcribeCallback: the voice message becomes a queued inquiry."""
        form = await self._form(request)
        lang, _ = self._language(request)
        call_sid, recording_sid = first(form, "CallSid").strip(), first(form, "RecordingSid").strip()
        if not call_sid or not recording_sid:
            raise HTTPException(400, "Twilio request has no 'CallSid' or 'RecordingSid' field")
        try:
            caller = to_e164(first(form, "From"), self.channel.settings.twilio_default_region, strict=False)
        except BadInput as exc:
            raise HTTPException(400, "the caller's number is not a phone number") from exc
        done = first(form, "TranscriptionStatus").lower() == "completed"
        text = clean_text(first(form, "TranscriptionText")) if done else ""
        inquiry = Inquiry(
            channel="sms",
            sender=caller,
            recipient=first(form, "To"),
            text=text or _TEXTS[lang]["untranscribed"],
            provider_message_id=recording_sid,
            conversation_key=VOICE_PREFIX + call_sid,
            language=lang,
            metadata={
                "voice": True,
                "call_sid": call_sid,
                "recording_url": first(form, "RecordingUrl") or None,
                "transcribed": bool(text),
                "directive": "queue",
            },
        )
        try:
            await self._accept(inquiry)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise HTTPException(503, "temporarily unavailable") from exc
        return Response(status_code=204)
