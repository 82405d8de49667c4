"""TwiML documents for messaging and voice responses (the TwiML reference)."""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>'


def _element(tag: str, attrs: Mapping[str, object] | None = None, content: str | None = None) -> str:
    text = "".join(f" {k}={quoteattr(str(v))}" for k, v in (attrs or {}).items() if v is not None)
    return f"<{tag}{text}/>" if content is None else f"<{tag}{text}>{content}</{tag}>"


def _response(*children: str) -> str:
    return _XML_DECL + (_element("Response", content="".join(children)) if children else "<Response/>")


def empty_messaging_response() -> str:
    """TwiML that acknowledges an inbound message without replying (the reply goes via the outbox)."""
    return _response()


def messaging_response(text: str) -> str:
    """TwiML that replies ``text`` at once (``<Message>``); for keyword auto-replies."""
    return _response(_element("Message", content=escape(text)))


def _say(text: str, language: str) -> str:
    return _element("Say", {"language": language}, escape(text))


def _gather(prompt: str, language: str, action: str | None, timeout: int) -> str:
    attrs = {
        "input": "speech",
        "language": language,
        "action": action,
        "method": "POST",
        "timeout": timeout,
        "speechTimeout": "auto",
    }
    return _element("Gather", attrs, _say(prompt, language))


def voice_gather(prompt: str, language: str = "zh-CN", action: str | None = None, *, timeout: int = 5) -> str:
    """TwiML asking a caller to speak: ``<Gather input="speech">`` around a ``<Say>`` prompt.

    Twilio posts the recognised text (``SpeechResult``) to ``action``.
    """
    return _response(_gather(prompt, language, action, timeout))


def voice_say_then_gather(
    say: str, prompt: str, language: str = "zh-CN", action: str | None = None, *, timeout: int = 5
) -> str:
    """TwiML that first says ``say`` (e.g. an answer) and then gathers the next question."""
    return _response(_say(say, language), _gather(prompt, language, action, timeout))


def voice_record(
    prompt: str, action: str, transcribe_callback: str, *, language: str = "zh-CN", max_length: int = 120
) -> str:
    """TwiML that records a voice message after ``prompt`` and asks Twilio to transcribe it.

    Twilio's built-in transcription handles English only; for Chinese the channel should fetch
    the recording (``RecordingUrl``) and queue it for an operator.
    """
    record = _element(
        "Record",
        {
            "action": action,
            "method": "POST",
            "maxLength": max_length,
            "playBeep": "true",
            "transcribe": "true",
            "transcribeCallback": transcribe_callback,
        },
    )
    return _response(_say(prompt, language), record)


def voice_say_hangup(text: str, language: str = "zh-CN") -> str:
    """TwiML that says ``text`` and ends the call (``<Say>`` then ``<Hangup/>``)."""
    return _response(_say(text, language), _element("Hangup"))
