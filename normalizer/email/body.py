"""Choose the body text of a MIME tree and collect the attachments (RFC 2046).

* ``multipart/alternative``: the ``text/plain`` alternative when it has content (clients write
  their quote separators there in plain text), else ``text/html``, else the last alternative.
* other multiparts (mixed, related, signed, digest, ``multipart/*``...): inline text parts
  without a file name are body, in order (Apple Mail splits text around inline images);
  everything else is an attachment.
* ``message/rfc822`` parts are attachments (``<subject>.eml``), never body: a forwarded original
  is not the citizen's text. A top-level ``message/rfc822`` wrapper is descended into.
* Report machinery (``message/delivery-status``, ``message/disposition-notification``,
  ``message/feedback-report``, ``text/rfc822-headers``) and detached signatures
  (``application/pgp-signature``, ``application/pkcs7-signature``) are neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from normalizer.email.headers import decode_header
from normalizer.email.mime import (
    children,
    content_type,
    disposition,
    filename_of,
    part_text,
    payload_bytes,
    raw_header,
)

_MACHINERY = {
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "application/pgp-signature",
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
}
_MAX_DEPTH = 30


@dataclass
class RawAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass
class BodyParts:
    """What :func:`collect` found: decoded text pieces and raw attachments."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    charsets: list[str] = field(default_factory=list)
    attachments: list[RawAttachment] = field(default_factory=list)


def _is_attachment(part: Message, ctype: str) -> bool:
    if disposition(part) == "attachment":
        return True
    if filename_of(part):
        return True
    return not ctype.startswith("text/")


def _add_text(part: Message, ctype: str, out: BodyParts) -> None:
    text, codec = part_text(part)
    out.charsets.append(codec)
    (out.html if ctype == "text/html" else out.plain).append(text)


def _attach(part: Message, ctype: str, out: BodyParts) -> None:
    if ctype == "message/rfc822":
        inner = children(part)
        subject = decode_header(raw_header(inner[0], "Subject")) if inner else ""
        name = filename_of(part) or f"{subject or 'message'}.eml"
        try:
            data = inner[0].as_bytes() if inner else payload_bytes(part)
        except Exception:  # noqa: BLE001 - the generator chokes on some broken inner messages
            data = payload_bytes(part)
        out.attachments.append(RawAttachment(name, ctype, data))
        return
    out.attachments.append(RawAttachment(filename_of(part), ctype, payload_bytes(part)))


def _alternative(part: Message, out: BodyParts, depth: int) -> None:
    alts = children(part)
    plain = [a for a in alts if content_type(a) == "text/plain"]
    for cand in plain:
        text, codec = part_text(cand)
        if text.strip():
            out.plain.append(text)
            out.charsets.append(codec)
            # Keep HTML too, as a fallback (some clients put the real text only there).
            for alt in alts:
                if content_type(alt) == "text/html":
                    _add_text(alt, "text/html", out)
                    break
            return
    html = [a for a in alts if content_type(a) == "text/html"]
    if html:
        _add_text(html[0], "text/html", out)
        return
    multi = [a for a in alts if content_type(a).startswith("multipart/")]
    if multi:
        _walk(multi[-1], out, depth + 1)
    elif alts:
        _walk(alts[-1], out, depth + 1)


def _walk(part: Message, out: BodyParts, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    ctype = content_type(part)
    subparts = children(part)
    if ctype == "multipart/alternative" and subparts:
        _alternative(part, out, depth)
        return
    if ctype.startswith("multipart/") or (ctype == "message/rfc822" and depth == 0):
        for sub in subparts:
            if ctype == "multipart/report" and content_type(sub) == "message/rfc822":
                continue  # the returned original of a bounce is report machinery too
            _walk(sub, out, depth + 1)
        if not subparts and ctype.startswith("multipart/"):
            # Broken multipart (no or wrong boundary): the payload is plain text.
            _add_text(part, "text/plain", out)
        return
    if ctype in _MACHINERY:
        return
    if ctype == "message/rfc822" or ctype.startswith("message/"):
        _attach(part, "message/rfc822" if ctype == "message/rfc822" else ctype, out)
        return
    if ctype in ("text/plain", "text/html") and not _is_attachment(part, ctype):
        _add_text(part, ctype, out)
        return
    if ctype.startswith("text/") and not _is_attachment(part, ctype):
        _add_text(part, "text/plain", out)  # text/enriched, text/calendar... shown as text
        return
    data = payload_bytes(part)
    if data or filename_of(part):
        _attach(part, ctype, out)


def collect(msg: Message) -> BodyParts:
    """Walk ``msg`` and return its body texts and attachments. Never raises."""
    out = BodyParts()
    try:
        _walk(msg, out, 0)
    except Exception:  # noqa: BLE001, S110 - partial results beat no results for broken MIME
        pass
    return out
