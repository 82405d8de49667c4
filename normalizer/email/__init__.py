"""Pure (sans-IO) e-mail parsing for the gateway's e-mail channel: bytes in, values out.

Modules: :mod:`.charsets` (robust decoding), :mod:`.headers` (RFC 2047/2231, addresses, ids),
:mod:`.subjects` (prefixes, mojibake, work-order tag), :mod:`.html` (HTML to text, HTML quote
markers), :mod:`.quotes` (quoted history and signatures in plain text), :mod:`.automatic`
(auto-replies, bounces, lists), :mod:`.dsn` (RFC 3464 reports), :mod:`.attachments` (safe names,
sniffed types), :mod:`.body` (MIME body selection), :mod:`.parse` (:func:`parse_rfc822`).
"""

from __future__ import annotations

from normalizer.email.automatic import AutoKind, classify_automatic
from normalizer.email.charsets import decode_bytes
from normalizer.email.dsn import DeliveryReport, RecipientStatus, parse_dsn
from normalizer.email.headers import (
    Address,
    decode_header,
    parse_addresses,
    parse_message_ids,
)
from normalizer.email.html import html_to_text, split_html
from normalizer.email.parse import ParsedEmail, parse_rfc822
from normalizer.email.quotes import extract_new_text, split_quotes, strip_quotes, strip_signature
from normalizer.email.subjects import find_work_order_tag, normalize_subject, reply_subject

__all__ = [
    "Address",
    "AutoKind",
    "DeliveryReport",
    "ParsedEmail",
    "RecipientStatus",
    "classify_automatic",
    "decode_bytes",
    "decode_header",
    "extract_new_text",
    "find_work_order_tag",
    "html_to_text",
    "normalize_subject",
    "parse_addresses",
    "parse_dsn",
    "parse_message_ids",
    "parse_rfc822",
    "reply_subject",
    "split_html",
    "split_quotes",
    "strip_quotes",
    "strip_signature",
]
