"""Header decoding that survives real-world mail.

* RFC 2047 encoded words, including broken ones: words without separating spaces, a multibyte
  character split over two words (we join the *bytes* of adjacent same-charset words before
  decoding, as RFC 2047 section 6.2 intends for display), lying charsets (decoded through
  :func:`decode_bytes`), bad base64 padding, spaces inside ``=?UTF-8? Q?``, and text that
  decodes to further encoded words (decoded again, at most a few rounds).
* Raw 8-bit header bytes (RFC 6532 UTF-8, or legacy bytes with no encoding) arrive from the
  stdlib parser as surrogate escapes and are decoded by sniffing.
* RFC 2231 parameters (``filename*0*=utf-8''...``) with percent-encoded bytes in any charset.
* Addresses are split by our own small scanner, *before* decoding display names, so that a name
  decoding to ``"Last, First"`` does not split into two addresses.

Subject helpers (:func:`normalize_subject`, :func:`reply_subject`, :func:`find_work_order_tag`)
live in :mod:`normalizer.email.subjects`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from normalizer.email.charsets import decode_bytes

# Lenient encoded-word: tolerates blanks around the '?' delimiters ("=?UTF-8? Q?...?=") and an
# RFC 2231 language suffix in the charset ("=?utf-8*en?Q?...?="). No nested quantifiers: linear.
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?\s*([BbQq])\s*\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n[ \t]*|\r[ \t]*")
_BLANKS = re.compile(r"[ \t]+")
_MAX_ROUNDS = 3


def to_bytes(value: str) -> bytes:
    """Recover the raw bytes of a header value parsed with ``surrogateescape`` (stdlib parser)."""
    return value.encode("utf-8", "surrogateescape")


def decode_raw(value: str) -> str:
    """Decode a header value that may carry raw 8-bit bytes as surrogate escapes."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(to_bytes(value), None)[0]


def _decode_b(payload: str) -> bytes:
    data = re.sub(r"[^A-Za-z0-9+/]", "", payload)
    # Bad padding and a stray extra character (4n+1) are both common: drop what cannot decode.
    data = data[: len(data) - (len(data) % 4)] if len(data) % 4 == 1 else data
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        return b""


def _decode_q(payload: str) -> bytes:
    # RFC 2047 4.2: "_" is space, =XX is a byte. Invalid escapes are kept literally.
    raw = to_bytes(payload).replace(b"_", b" ")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def _decode_words_once(value: str) -> str:
    out: list[str] = []
    pos = 0
    pending_charset: str | None = None
    pending: bytearray = bytearray()

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        # RFC 2047 6.2: whitespace between adjacent encoded words is not displayed.
        if between and not (pending_charset is not None and between.strip() == ""):
            flush()
            out.append(decode_raw(between))
        charset = match.group(1).split("*", 1)[0].lower()
        kind = match.group(2).upper()
        payload = match.group(3)
        data = _decode_b(payload) if kind == "B" else _decode_q(payload)
        if pending_charset is not None and pending_charset != charset:
            flush()
        pending_charset = charset
        pending.extend(data)
        pos = match.end()
    flush()
    out.append(decode_raw(value[pos:]))
    return "".join(out)


def decode_header(value: str | None) -> str:
    """Decode a raw header value to display text. Never raises; ``None`` gives ``""``.

    Unfolds (RFC 5322 2.2.3), decodes encoded words (repeatedly, for double encoding) and raw
    8-bit bytes, and collapses runs of blanks.
    """
    if not value:
        return ""
    text = _FOLD.sub(" ", str(value))
    for _ in range(_MAX_ROUNDS):
        if "=?" not in text:
            break
        decoded = _decode_words_once(text)
        if decoded == text:
            break
        text = decoded
    else:
        text = decode_raw(text)
    text = decode_raw(text)
    return _BLANKS.sub(" ", text.replace("\r", " ").replace("\n", " ")).strip()


# --- addresses -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: ``name`` is the decoded display name, ``addr`` the addr-spec (may be empty)."""

    name: str
    addr: str


def _split_list(value: str) -> list[str]:
    """Split an address list on commas outside quotes, angle brackets and comments (linear)."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    angle = 0
    paren = 0
    escape = False
    for ch in value:
        if escape:
            buf.append(ch)
            escape = False
            continue
        if ch == "\\" and (quoted or paren):
            escape = True
            buf.append(ch)
            continue
        if ch == '"' and not paren:
            quoted = not quoted
        elif not quoted:
            if ch == "(":
                paren += 1
            elif ch == ")" and paren:
                paren -= 1
            elif ch == "<" and not paren:
                angle += 1
            elif ch == ">" and angle and not paren:
                angle -= 1
            elif ch in ",;" and not angle and not paren:
                parts.append("".join(buf))
                buf = []
                continue
        buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


_ANGLE = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\(([^()]*)\)")
_ADDR_SPEC = re.compile(r"[^\s<>()\"',;:]+@[^\s<>()\"',;:]+")


def _clean_name(name: str) -> str:
    name = name.strip().strip('"').strip().strip("'").strip()
    return decode_header(name.replace('\\"', '"'))


def parse_address(item: str) -> Address:
    """Parse one mailbox such as ``"Name" <a@b>``, ``a@b (Name)``, ``Name <>`` or ``a@b``."""
    item = _FOLD.sub(" ", item).strip()
    angles = _ANGLE.findall(item)
    if angles:
        addr = angles[-1].strip()
        # A route (RFC 5322 obs-route "@a,@b:x@y") is obsolete; keep only the addr-spec.
        addr = addr.rsplit(":", 1)[-1].strip()
        name = item[: item.find("<")]
        if not name.strip():
            comment = _COMMENT.search(item)
            name = comment.group(1) if comment else ""
        return Address(_clean_name(name), decode_raw(addr).strip())
    comment = _COMMENT.search(item)
    name = comment.group(1) if comment else ""
    rest = _COMMENT.sub(" ", item).strip()
    spec = _ADDR_SPEC.search(rest)
    if spec:
        return Address(_clean_name(name), decode_raw(spec.group(0)))
    if "@" not in rest and rest and " " not in rest.strip('"') and not rest.startswith('"'):
        # A bare local name such as MAILER-DAEMON: keep it as the address.
        return Address(_clean_name(name), decode_raw(rest))
    return Address(_clean_name(name or rest), "")


def parse_addresses(value: str | None) -> list[Address]:
    """Parse an address-list header into :class:`Address` values (never raises).

    Groups (``Undisclosed recipients:;``) contribute their members, if any.
    """
    if not value:
        return []
    value = _FOLD.sub(" ", value)
    result: list[Address] = []
    for part in _split_list(value):
        # RFC 5322 group syntax "display-name: a, b;" - drop the group label.
        if ":" in part and "<" not in part.split(":", 1)[0] and "@" not in part.split(":", 1)[0]:
            part = part.split(":", 1)[1].strip()
            if not part:
                continue
        address = parse_address(part)
        if address.addr or address.name:
            result.append(address)
    return result


# --- message ids ---------------------------------------------------------------------------

_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def parse_message_ids(value: str | None) -> list[str]:
    """Return the message ids (without angle brackets) in a Message-ID/References value.

    Ids without brackets (seen from broken clients) are accepted when they contain ``@``.
    Duplicates are dropped, order is kept.
    """
    if not value:
        return []
    text = decode_raw(_FOLD.sub(" ", value))
    ids = _MSG_ID.findall(text)
    if not ids:
        ids = [tok.strip("<>,;") for tok in text.split() if "@" in tok]
    seen: set[str] = set()
    unique: list[str] = []
    for mid in ids:
        if mid and mid not in seen:
            seen.add(mid)
            unique.append(mid)
    return unique


# --- RFC 2231 parameters -------------------------------------------------------------------


def decode_param(value: object) -> str:
    """Decode a MIME parameter value as returned by ``Message.get_param`` (compat32).

    RFC 2231 values arrive as ``(charset, language, text)`` where ``text`` holds the
    percent-decoded bytes as code points 0-255; plain values may still carry RFC 2047 encoded
    words (a common violation, RFC 2231 section 5 notwithstanding) or raw 8-bit bytes.
    """
    if isinstance(value, tuple) and len(value) == 3:
        charset, _language, text = value
        text = str(text or "")
        while len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:  # raw 8-bit inside an RFC 2231 value
            raw = text.encode("utf-8", "surrogateescape")
        return decode_bytes(raw, str(charset) if charset else None)[0]
    if value is None:
        return ""
    text = str(value).strip()
    # email.utils.decode_params re-quotes plain values; senders sometimes quote twice.
    while len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').strip()
    return decode_header(text)


# Subject helpers are specified as part of the header API; they live in their own module.
from normalizer.email.subjects import (
    find_work_order_tag,
    normalize_subject,
    repair_mojibake,
    reply_subject,
)

__all__ = [
    "Address",
    "decode_header",
    "decode_param",
    "decode_raw",
    "find_work_order_tag",
    "normalize_subject",
    "parse_address",
    "parse_addresses",
    "parse_message_ids",
    "repair_mojibake",
    "reply_subject",
    "to_bytes",
]
