"""Thin, failure-proof helpers over the stdlib :mod:`email` parser.

We parse with ``policy=compat32``: it never raises on malformed structure (defects are only
recorded) and it hands us header values *unchanged* via :meth:`Message.raw_items`, raw 8-bit bytes
kept as surrogate escapes, so that our own decoders (:mod:`normalizer.email.headers`,
:mod:`normalizer.email.charsets`) can deal with lying charsets. The ``default`` policy decodes
headers eagerly and can raise on odd values when they are read.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import email.utils
import re
from email.message import Message

from normalizer.email.charsets import decode_bytes
from normalizer.email.headers import decode_header, decode_param


def load_message(raw: bytes) -> Message:
    """Parse raw RFC 5322 bytes (LF, CRLF or CR line endings, optional mbox ``From `` line)."""
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)


def raw_header(msg: Message, name: str) -> str | None:
    """First value of header ``name`` exactly as received (unfolded later by the decoder)."""
    wanted = name.lower()
    try:
        for key, value in msg.raw_items():
            if key.lower() == wanted:
                return str(value)
    except Exception:  # noqa: BLE001 - a broken header list must not stop intake
        return None
    return None


def all_raw_headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    try:
        return [str(v) for k, v in msg.raw_items() if k.lower() == wanted]
    except Exception:  # noqa: BLE001
        return []


def header_text(msg: Message, name: str) -> str:
    """Decoded display text of header ``name`` (``""`` when absent)."""
    return decode_header(raw_header(msg, name))


def content_type(part: Message) -> str:
    """The part's MIME type, lower-case; ``text/plain`` when missing or unparsable (RFC 2045 5.2)."""
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001
        return "text/plain"
    if "/" not in ctype:
        return "text/plain"
    return ctype.lower()


def _split_params(value: str) -> list[str]:
    """Split ``type/sub; a=1; b="x;y"`` on semicolons outside quotes (linear scan)."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escape = False
    for ch in value:
        if escape:
            escape = False
        elif ch == "\\" and quoted:
            escape = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


def params_of(part: Message, header: str = "content-type") -> dict[str, object]:
    """All parameters of a structured header, RFC 2231 continuations joined.

    Parsed from the *raw* header so that raw 8-bit values (surrogate escapes) survive; the
    stdlib accessor would replace them with U+FFFD. Values are ``str`` or RFC 2231
    ``(charset, language, text)`` tuples, as :func:`email.utils.decode_params` returns them.
    """
    raw = raw_header(part, header)
    if not raw:
        return {}
    raw = raw.replace("\r", "").replace("\n", "")
    pairs: list[tuple[str, str]] = [("", "")]
    for item in _split_params(raw)[1:]:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            continue
        pairs.append((name, value.strip()))
    decoded: list[tuple[str, object]]
    try:
        decoded = list(email.utils.decode_params(pairs)[1:])
    except Exception:  # noqa: BLE001 - malformed continuations: fall back to the plain pairs
        decoded = [(n, email.utils.unquote(v)) for n, v in pairs[1:]]
    result: dict[str, object] = {}
    for key, val in decoded:
        result.setdefault(key.lower(), val)
    return result


def get_param(part: Message, name: str, header: str = "content-type") -> str:
    """A decoded MIME parameter (RFC 2231 and RFC 2047 forms both understood)."""
    value = params_of(part, header).get(name.lower())
    return decode_param(value) if value is not None else ""


def charset_label(part: Message) -> str | None:
    value = params_of(part).get("charset")
    if isinstance(value, tuple):
        value = value[2]
    return str(value) if value else None


def _lenient_b64(text: str) -> bytes:
    # RFC 2045 6.8: characters outside the alphabet are ignored; we also drop a dangling
    # 4n+1th character and add missing padding instead of giving up on the whole part.
    data = re.sub(r"[^A-Za-z0-9+/]", "", text)
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return b""


def payload_bytes(part: Message) -> bytes:
    """The decoded (base64/QP/uuencode) payload of a leaf part; raw bytes when undecodable."""
    raw = part.get_payload()
    cte = (raw_header(part, "content-transfer-encoding") or "").strip().lower()
    if cte == "base64" and isinstance(raw, str):
        return _lenient_b64(raw)
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - e.g. broken uuencode
        data = None
    if isinstance(data, bytes):
        return data
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks (a line ending in a space continues)."""
    out: list[str] = []
    buf = ""
    for line in text.split("\n"):
        if line.startswith(">"):
            # Quoted lines keep their hard breaks: merging needs equal quote depth, and the
            # quoted part is discarded anyway.
            if buf:
                out.append(buf)
                buf = ""
            out.append(line)
            continue
        line = line.removeprefix(" ")  # space-stuffing (RFC 3676 4.4)
        if line.endswith(" ") and line.rstrip() != "--":
            buf += line[:-1] if delsp else line
            continue
        out.append(buf + line)
        buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)


def part_text(part: Message) -> tuple[str, str]:
    """Decode a text part to ``(text, codec_used)`` with line endings normalised to ``\\n``."""
    text, codec = decode_bytes(payload_bytes(part), charset_label(part))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    params = params_of(part)
    fmt = str(params.get("format") or "").strip().lower()
    delsp = str(params.get("delsp") or "").strip().lower() == "yes"
    if fmt == "flowed":
        text = _unflow(text, delsp)
    return text, codec


def filename_of(part: Message) -> str:
    """The attachment name from Content-Disposition ``filename`` or Content-Type ``name``."""
    name = get_param(part, "filename", header="content-disposition")
    if not name:
        name = get_param(part, "name")
    return name


def disposition(part: Message) -> str:
    value = raw_header(part, "content-disposition") or ""
    return value.split(";", 1)[0].strip().lower()


def children(part: Message) -> list[Message]:
    """Sub-parts of a multipart or message/* part (empty for leaves and broken structure)."""
    try:
        payload = part.get_payload()
    except Exception:  # noqa: BLE001
        return []
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return []
