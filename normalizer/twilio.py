"""Twilio's wire formats, sans-IO: webhook signatures, inbound forms, status callbacks, errors, TwiML.

Sources (Twilio's documentation is the spec): "Webhooks security" (X-Twilio-Signature),
"Messaging webhooks" (inbound parameters), "Outbound message status in status callbacks",
the REST API error dictionary (https://www.twilio.com/docs/errors) and the TwiML reference.
Nothing here does I/O; ``channels/twilio`` moves the bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape, quoteattr

from gateway.errors import BadInput
from normalizer.inquiry import Inquiry
from normalizer.phone import is_short_code, to_e164
from normalizer.sms import classify_keyword
from normalizer.text import clean_text, guess_language

__all__ = [
    "StatusUpdate",
    "classify_keyword",
    "classify_twilio_error",
    "compute_signature",
    "empty_messaging_response",
    "messaging_response",
    "parse_status_callback",
    "parse_twilio_form",
    "validate_signature",
    "voice_gather",
    "voice_record",
    "voice_say_hangup",
    "voice_say_then_gather",
]

FormValue = str | Sequence[str] | None

# --------------------------------------------------------------------------- signatures


def compute_signature(auth_token: str, url: str, params: Mapping[str, FormValue]) -> str:
    """``X-Twilio-Signature`` for ``url`` and the decoded POST ``params``.

    base64(HMAC-SHA1(auth_token, url + key1 + value1 + key2 + value2 ...)) with keys sorted by
    code point (= UTF-8 byte order: ``CALLSID`` < ``CallSid`` < ``callSid``), and the values of a
    repeated key sorted and de-duplicated. ``None`` counts as the empty string. Multi-dicts with
    ``getlist`` (Starlette's FormData, Django's QueryDict) give all values of a repeated key.
    """
    getlist = getattr(params, "getlist", None)
    parts = [url]
    for key in sorted(set(params)):
        value = getlist(key) if callable(getlist) else params[key]
        values = [value] if value is None or isinstance(value, str) else list(value)
        for item in sorted({"" if v is None else str(v) for v in values}):
            parts.append(key + item)
    mac = hmac.new(auth_token.encode("utf-8"), "".join(parts).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)(://)([^/?#]*)(.*)$", re.DOTALL)
_HOSTPORT = re.compile(r"^(\[[^\]]*\]|[^:]*)(?::(\d*))?$")
_DEFAULT_PORTS = {"https": "443", "http": "80"}


def _port_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port added.

    Twilio signs whatever URL it was configured with, and a proxy may add or drop the port;
    the official SDKs therefore accept both forms. Host case, the scheme's case and userinfo
    stay verbatim: they are part of the signed string (corpus vectors 21-26, 40).
    """
    variants = [url]
    match = _URL.match(url)
    if not match:
        return variants
    scheme, sep, authority, rest = match.groups()
    userinfo, at, hostport = authority.rpartition("@")
    hp = _HOSTPORT.match(hostport)
    if not hp:
        return variants
    host, port = hp.group(1), hp.group(2)
    if port is not None:
        variants.append(f"{scheme}{sep}{userinfo}{at}{host}{rest}")
    elif scheme.lower() in _DEFAULT_PORTS:
        variants.append(f"{scheme}{sep}{userinfo}{at}{host}:{_DEFAULT_PORTS[scheme.lower()]}{rest}")
    return variants


def _whatwg_form(url: str) -> str:
    """The URL as a WHATWG URL parser serialises path and query (twilio-node does this).

    Only percent-encoding is applied (the path and special-query percent-encode sets, non-ASCII
    as UTF-8); existing %XX escapes are kept. Corpus vector 15: ``It's`` is signed as ``It%27s``.
    """
    match = _URL.match(url)
    if not match:
        return url
    head = "".join(match.groups()[:3])
    rest, hash_, fragment = match.group(4).partition("#")
    path, qmark, query = rest.partition("?")
    path = quote(path, safe="/%!$&'()*+,;=:@[]|^~-._")
    query = quote(query, safe="/%!$&()*+,;=:@[]|^~-._?{}`\\")
    return head + path + qmark + query + hash_ + fragment


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(url.partition("#")[0].partition("?")[2], keep_blank_values=True)


def validate_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, FormValue],
    signature: str,
    body: bytes | str | None = None,
) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) proves Twilio sent this request.

    url: the full URL Twilio requested, exactly as configured in Twilio (use the public URL, not
        the one a reverse proxy rewrote).
    params: the decoded form fields for ``application/x-www-form-urlencoded`` requests.
    body: pass the raw body only for non-form (JSON) requests: then the URL must carry
        ``bodySHA256`` = hex SHA-256 of the body, ``params`` are ignored and only the URL is signed.

    Accepted URL forms: as given, without the port, with the default port (as all Twilio SDKs do),
    and each again in WHATWG-serialised form (as twilio-node does; corpus vector 15). Every
    comparison is constant-time (``hmac.compare_digest``) and all candidates are always tried.
    """
    if not auth_token or not signature:
        return False
    body_ok = True
    if body is not None:
        declared = _query(url).get("bodySHA256")
        if not declared:
            return False  # a body nobody signed (corpus vector 09)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        body_ok = hmac.compare_digest(hashlib.sha256(raw).hexdigest().encode(), declared[0].lower().encode())
        params = {}
    candidates = dict.fromkeys(_port_variants(url) + _port_variants(_whatwg_form(url)))
    expected = signature.strip().encode("utf-8", "replace")
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(compute_signature(auth_token, candidate, params).encode(), expected)
    return matched and body_ok


# --------------------------------------------------------------------------- inbound messages


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


# --------------------------------------------------------------------------- status callbacks

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


# --------------------------------------------------------------------------- REST errors

# Codes from https://www.twilio.com/docs/errors. Reasons are ours: Twilio's messages often
# quote the phone number, which must not reach logs.
PERMANENT_CODES = {
    "20003": "authentication failed (check account SID and auth token)",
    "20404": "resource not found",
    "21211": "invalid 'To' phone number",
    "21408": "permission to send to this region is not enabled",
    "21602": "message body is required",
    "21603": "a 'From' number or messaging service is required",
    "21604": "a 'To' number is required",
    "21606": "the 'From' number cannot send SMS",
    "21608": "trial accounts may only send to verified numbers",
    "21610": "recipient unsubscribed (replied STOP)",
    "21612": "the 'To' number cannot be reached from the 'From' number",
    "21614": "the 'To' number is not a mobile number",
    "21617": "message body exceeds 1600 characters",
    "30003": "handset unreachable",
    "30004": "message blocked",
    "30005": "unknown or inactive destination",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown delivery error",
}
RETRYABLE_CODES = {
    "20429": "too many requests",
    "30001": "queue overflow",
    "30022": "carrier rate limit exceeded (US A2P 10DLC)",
    "63018": "channel rate limit exceeded",
}


def classify_twilio_error(
    http_status: int, body: Mapping[str, object] | None
) -> tuple[bool, str | None, str]:
    """Decide ``(retryable, code, reason)`` for an error answer of Twilio's REST API.

    Twilio error bodies are ``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``.
    Rate limits (429, code 20429) and server errors (5xx) are retryable; known permanent codes
    and every other 4xx are not. Network errors never reach here: the caller classifies them.
    """
    raw_code = body.get("code") if isinstance(body, Mapping) else None
    code = str(raw_code) if raw_code not in (None, "") else None
    if code in RETRYABLE_CODES:
        return True, code, RETRYABLE_CODES[code]
    if http_status == 429:
        return True, code or "20429", "too many requests"
    if http_status >= 500:
        return True, code, f"Twilio server error (HTTP {http_status})"
    if code in PERMANENT_CODES:
        return False, code, PERMANENT_CODES[code]
    return False, code, f"request rejected by Twilio (HTTP {http_status})"


# --------------------------------------------------------------------------- TwiML

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
