"""Inbound messaging webhooks and status callbacks, as Twilio posts them ("Messaging webhooks",
"Outbound message status in status callbacks"), parsed into our types."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.errors import BadInput
from normalizer.inquiry import Inquiry
from normalizer.phone import is_short_code, to_e164
from normalizer.sms import classify_keyword
from normalizer.text import clean_text, guess_language

FormValue = str | Sequence[str] | None


def _first(form: Mapping[str, FormValue], key: str) -> str:
    value = form.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value[0]) if len(value) else ""


def _int(form: Mapping[str, FormValue], key: str) -> int | None:
    text = _first(form, key).strip()
    return int(text) if text.isdigit() else None


_MAX_MEDIA = 20  # Twilio delivers at most 10; the cap only bounds work on forged forms
_GEO_FIELDS = ("City", "State", "Zip", "Country")


def _recipient(raw: str, region: str) -> str:
    """Our own number: E.164, or a short code / sender id kept as Twilio sent it."""
    bare = raw.split(":", 1)[1] if raw.lower().startswith("whatsapp:") else raw
    if not bare or is_short_code(bare):
        return bare
    try:
        return to_e164(bare, region, strict=False)
    except BadInput:
        return bare


def parse_twilio_form(
    form: Mapping[str, FormValue], *, default_region: str = "CN", channel: str = "sms"
) -> Inquiry:
    """Turn Twilio's inbound SMS/MMS/WhatsApp webhook form into an :class:`Inquiry`.

    ``sender`` is the citizen's E.164 number (``whatsapp:`` removed, ``metadata["whatsapp"]``
    set); ``conversation_key`` is ``"<from>|<to>"``, with the ``whatsapp:`` prefix kept on
    WhatsApp so that an SMS and a WhatsApp thread with one person stay apart. Media are listed in
    ``metadata["media"]`` (``[{"url", "content_type"}]``) and fetched later by the channel, so
    ``attachments`` is empty. The Body is taken as sent (never base64-guessed). ``From`` is only
    checked for a possible length: the carrier already delivered it.

    Raises :class:`~gateway.errors.BadInput` when ``From`` or ``MessageSid`` is missing or ``From``
    is not a phone number.
    """
    sid = _first(form, "MessageSid") or _first(form, "SmsMessageSid") or _first(form, "SmsSid")
    raw_from = _first(form, "From").strip()
    if not raw_from:
        raise BadInput("Twilio request has no 'From' field")
    if not sid.strip():
        raise BadInput("Twilio request has no 'MessageSid' field")
    whatsapp = raw_from.lower().startswith("whatsapp:")
    try:
        sender = to_e164(raw_from, default_region, strict=False)
    except BadInput as exc:
        raise BadInput(f"Twilio 'From' is not a phone number: {exc}") from exc
    recipient = _recipient(_first(form, "To").strip(), default_region)
    prefix = "whatsapp:" if whatsapp else ""
    text = clean_text(_first(form, "Body"))

    found = {int(m.group(1)) for key in form if (m := re.fullmatch(r"MediaUrl(\d+)", key))}
    count = max([_int(form, "NumMedia") or 0, *(i + 1 for i in found)])
    media = [
        {"url": _first(form, f"MediaUrl{i}"), "content_type": _first(form, f"MediaContentType{i}") or None}
        for i in range(min(count, _MAX_MEDIA))
        if _first(form, f"MediaUrl{i}")
    ]
    geo = {
        side.lower(): {f.lower(): v for f in _GEO_FIELDS if (v := _first(form, side + f).strip())}
        for side in ("From", "To")
    }
    metadata: dict[str, object] = {
        "account_sid": _first(form, "AccountSid") or None,
        "messaging_service_sid": _first(form, "MessagingServiceSid") or None,
        "num_segments": _int(form, "NumSegments"),
        "num_media": _int(form, "NumMedia") or 0,
        "media": media,
        "geo": {side: fields for side, fields in geo.items() if fields},
        "whatsapp": whatsapp,
        "keyword": classify_keyword(text),
    }
    for field, key in (
        ("ProfileName", "profile_name"),
        ("WaId", "wa_id"),
        ("ExternalUserId", "external_user_id"),
        ("ButtonText", "button_text"),
        ("ButtonPayload", "button_payload"),
    ):
        if value := _first(form, field):
            metadata[key] = value
    return Inquiry(
        channel=channel,
        sender=sender,
        recipient=recipient,
        text=text,
        provider_message_id=sid.strip(),
        conversation_key=f"{prefix}{sender}|{prefix}{recipient}",
        language=guess_language(text),
        metadata=metadata,
    )


# The Message resource's status values (REST API reference, "Message Status values").
MESSAGE_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "receiving",
        "received",
        "read",
        "partially_delivered",
        "canceled",
    }
)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One delivery status callback. ``status`` is lower-case and known; ``raw_status`` as sent."""

    message_sid: str
    status: str
    error_code: str | None
    error_message: str | None
    raw_status: str


def parse_status_callback(form: Mapping[str, FormValue]) -> StatusUpdate:
    """Parse a status callback form (``MessageSid``, ``MessageStatus``, optional ``ErrorCode``).

    Raises :class:`~gateway.errors.BadInput` for a missing sid or status and for a status Twilio
    does not define (so the callback is answered 400 and changes nothing).
    """
    sid = (_first(form, "MessageSid") or _first(form, "SmsSid")).strip()
    raw = (_first(form, "MessageStatus") or _first(form, "SmsStatus")).strip()
    if not sid:
        raise BadInput("status callback has no 'MessageSid' field")
    if not raw:
        raise BadInput("status callback has no 'MessageStatus' field")
    status = raw.lower()
    if status not in MESSAGE_STATUSES:
        raise BadInput(f"unknown message status {raw[:40]!r}")
    code = _first(form, "ErrorCode").strip()
    return StatusUpdate(sid, status, code or None, _first(form, "ErrorMessage").strip() or None, raw)
