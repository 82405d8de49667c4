"""``parse_rfc822``: raw e-mail bytes to a :class:`ParsedEmail` holding the common Inquiry.

Pure and total: every input except empty bytes yields a result (malformed MIME, lying charsets,
missing headers, mbox ``From `` lines, LF/CRLF/CR line endings). Decision for input that is not
mail at all: bytes without any header are read as a headerless body (RFC 5322 allows an empty
header section), so random bytes give a ParsedEmail whose text is their best-effort decoding;
only empty or whitespace-only input raises :class:`gateway.errors.BadInput`, since there is
nothing to store. The listener decides whether such a message is worth keeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parsedate_to_datetime

from gateway.errors import BadInput
from normalizer.email.attachments import make_attachment
from normalizer.email.automatic import AutoKind, classify_automatic
from normalizer.email.body import collect
from normalizer.email.charsets import decode_bytes
from normalizer.email.dsn import DeliveryReport, parse_dsn
from normalizer.email.headers import decode_header, parse_addresses, parse_message_ids
from normalizer.email.html import split_html
from normalizer.email.mime import load_message, raw_header
from normalizer.email.quotes import _FORWARD, extract_new_text
from normalizer.email.subjects import find_work_order_tag, normalize_subject
from normalizer.inquiry import Attachment, Inquiry
from normalizer.text import clean_text, guess_language

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ParsedEmail:
    """Everything the e-mail channel needs from one message.

    inquiry: the common :class:`Inquiry` (``text`` holds only the new words; the full decoded
        body is in ``metadata["original_text"]``).
    automatic: the kind of automatic mail (never auto-answer it), or ``None``.
    dsn: the parsed delivery report when the message is a bounce, else ``None``.
    charset: the codec the body was decoded with.
    """

    inquiry: Inquiry
    automatic: AutoKind | None = None
    dsn: DeliveryReport | None = None
    charset: str = "utf-8"
    defects: tuple[str, ...] = field(default_factory=tuple)


def _received_at(value: str | None, now: dt.datetime) -> dt.datetime:
    if not value or not value.strip():
        return now
    try:
        parsed = parsedate_to_datetime(decode_header(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return now
    if parsed is None:
        return now
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)  # RFC 5322 "-0000": time is UTC, zone unknown
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return now


def _body_text(plain: list[str], html: list[str]) -> tuple[str, str, bool]:
    """Return ``(original_text, new_text, html_only)`` for the collected body pieces."""
    plain_text = "\n\n".join(t for t in plain if t.strip())
    if plain_text.strip():
        return plain_text, extract_new_text(plain_text), False
    if not html:
        return "", "", False
    new_parts: list[str] = []
    full_parts: list[str] = []
    for doc in html:
        new, quoted = split_html(doc)
        full_parts.append(f"{new}\n\n{quoted}".strip())
        first_quoted = next((ln.strip() for ln in quoted.split("\n") if ln.strip()), "")
        # A forward is content, not history: keep it whole.
        new_parts.append(f"{new}\n\n{quoted}".strip() if _FORWARD.match(first_quoted) else new)
    full = "\n\n".join(p for p in full_parts if p)
    return full, extract_new_text("\n\n".join(p for p in new_parts if p)), True


def parse_rfc822(
    raw: bytes,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    channel: str = "email",
    now: dt.datetime | None = None,
) -> ParsedEmail:
    """Parse raw RFC 5322/MIME bytes into a :class:`ParsedEmail`. Pure, no I/O.

    Raises :class:`BadInput` only for empty (or whitespace-only) input. ``now`` is used when
    the Date header is missing or unparsable (default: the current time, UTC).
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise BadInput("e-mail must be given as bytes")
    raw = bytes(raw)
    if not raw.strip():
        raise BadInput("empty e-mail message")
    now = now or dt.datetime.now(dt.UTC)
    try:
        msg = load_message(raw)
    except Exception:  # noqa: BLE001 - the stdlib parser is lenient, but be total anyway
        msg = Message()
        msg.set_payload(raw.decode("utf-8", "surrogateescape"))
    return _build(msg, raw, max_attachment_bytes, channel, now)


def _build(msg: Message, raw: bytes, max_bytes: int, channel: str, now: dt.datetime) -> ParsedEmail:
    parts = collect(msg)
    if not parts.plain and not parts.html and not parts.attachments and not msg.keys():
        # Nothing recognisable at all: treat every byte as one text body.
        text, codec = decode_bytes(raw, None)
        parts.plain.append(text)
        parts.charsets.append(codec)
    original, new_text, html_only = _body_text(parts.plain, parts.html)
    original = clean_text(original)
    text = clean_text(new_text) or original  # never lose a message that was "all quote"

    senders = parse_addresses(raw_header(msg, "From"))
    sender = senders[0] if senders else None
    recipients = parse_addresses(raw_header(msg, "To"))
    own_ids = parse_message_ids(raw_header(msg, "Message-ID"))
    in_reply_to = parse_message_ids(raw_header(msg, "In-Reply-To"))
    references = parse_message_ids(raw_header(msg, "References"))
    message_id = own_ids[0] if own_ids else None
    provider_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    conversation = (references or in_reply_to or [provider_id])[0]

    full_subject = decode_header(raw_header(msg, "Subject"))
    subject = normalize_subject(full_subject)
    automatic = _safe(lambda: classify_automatic(msg), None)
    dsn = _safe(lambda: parse_dsn(msg, assume_bounce=automatic == "bounce"), None)
    charset = parts.charsets[0] if parts.charsets else "utf-8"

    attachments: list[Attachment] = []
    for idx, att in enumerate(parts.attachments, start=1):
        attachments.append(
            make_attachment(att.name, att.content_type, att.data, index=idx, max_bytes=max_bytes)
        )

    metadata = {
        "original_text": original,
        "charset": charset,
        "message_id": message_id,
        "in_reply_to": in_reply_to[0] if in_reply_to else None,
        "references": references,
        "work_order": find_work_order_tag(full_subject),
        "automatic": automatic,
        "html_only": html_only,
        "from_name": sender.name if sender else "",
        "raw_subject": full_subject,
    }
    inquiry = Inquiry(
        channel=channel,
        sender=(sender.addr if sender else "").lower(),
        text=text,
        provider_message_id=provider_id,
        conversation_key=conversation,
        recipient=(recipients[0].addr.lower() if recipients else ""),
        subject=subject,
        language=guess_language(text or subject),
        attachments=tuple(attachments),
        received_at=_received_at(raw_header(msg, "Date"), now),
        metadata=metadata,
    )
    defects = tuple(type(d).__name__ for d in getattr(msg, "defects", []))
    return ParsedEmail(inquiry=inquiry, automatic=automatic, dsn=dsn, charset=charset, defects=defects)


def _safe(fn, default):  # type: ignore[no-untyped-def]
    # Classification and DSN parsing are advisory: a bug there must not lose the message.
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return default
