"""Delivery Status Notifications (RFC 3464) and best-effort non-standard bounces.

:func:`parse_dsn` answers the outbox's question "did my reply reach the citizen, and if not,
is it final?" It reads the ``message/delivery-status`` part (per-message block, then one block
per recipient: ``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``) and finds the
original Message-ID in the returned ``message/rfc822`` or ``text/rfc822-headers`` part, falling
back to ``X-Original-Message-ID``, ``In-Reply-To`` and ``References``.

Plain-text bounces (qmail "failure notice", Exim "Mail delivery failed", Gmail's old plain
DSN) have no machine-readable part; for those we take recipients from ``X-Failed-Recipients``
or the text, the first enhanced status code (RFC 3463) or SMTP reply code from the text, and
the original Message-ID from the returned headers quoted in the body.

Delayed reports (``Action: delayed``, status 4.x.x) are *not* failures: the outbox keeps waiting.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from normalizer.email.headers import decode_raw, parse_addresses, parse_message_ids
from normalizer.email.mime import children, content_type, part_text, payload_bytes, raw_header

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?m)^\s*(?:<[^>\s]*>:?\s*)?.*?\b([45]\d\d)[ -]")
_BODY_MSG_ID = re.compile(r"(?im)^[ \t>]*message-id:[ \t]*(<[^>\r\n]+>)")
_RCPT_IN_TEXT = re.compile(r"<(?:mailto:)?([^<>@\s:]+@[^<>\s]+)>")
_ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One per-recipient block. ``status`` is the RFC 3463 code ("5.1.1"), may be empty."""

    recipient: str
    action: str
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""

    @property
    def permanent(self) -> bool:
        """A final failure: ``Action: failed`` (or no action but a 5.x.x status)."""
        if self.action:
            return self.action == "failed"
        return self.status.startswith("5")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A parsed bounce. ``standard`` is True for an RFC 3464 ``message/delivery-status`` part."""

    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]
    reporting_mta: str = ""
    standard: bool = True

    @property
    def permanent(self) -> bool:
        """True when any recipient failed permanently (the outbox dead-letters the reply)."""
        return any(r.permanent for r in self.recipients)

    @property
    def delayed(self) -> bool:
        return bool(self.recipients) and all(r.action == "delayed" for r in self.recipients)

    @property
    def status(self) -> str:
        return next((r.status for r in self.recipients if r.status), "")


def _fields(block: str) -> dict[str, str]:
    """Parse one DSN block of "Name: value" lines with RFC 5322 continuation lines."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and last is not None:
            fields[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            last = name.strip().lower()
            fields.setdefault(last, value.strip())
    return fields


def _status_text(part: Message) -> str:
    """Text of a message/delivery-status part however the stdlib structured it."""
    blocks = children(part)
    if blocks:
        texts = []
        for block in blocks:
            lines = [f"{k}: {decode_raw(str(v))}" for k, v in block.raw_items()]
            body = block.get_payload()
            if isinstance(body, str) and body.strip():
                lines.append(body)
            texts.append("\n".join(lines))
        return "\n\n".join(texts)
    return part_text(part)[0]


def _strip_type(value: str) -> str:
    # "rfc822; <user@example.jp>" -> "user@example.jp" (RFC 3464 2.3.2 address-type prefix).
    value = value.split(";", 1)[-1].strip()
    return value.strip("<>").strip()


def _parse_status_blocks(text: str) -> tuple[str, list[RecipientStatus]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
    reporting = ""
    recipients: list[RecipientStatus] = []
    for block in blocks:
        f = _fields(block)
        if "reporting-mta" in f and not reporting:
            reporting = _strip_type(f["reporting-mta"])
        rcpt = f.get("final-recipient") or f.get("original-recipient")
        if not rcpt and "action" not in f:
            continue
        action = f.get("action", "").split()[0].lower() if f.get("action") else ""
        status_match = _STATUS.search(f.get("status", ""))
        recipients.append(
            RecipientStatus(
                recipient=_strip_type(rcpt or ""),
                action=action,
                status=status_match.group(0) if status_match else "",
                diagnostic=f.get("diagnostic-code", "").split(";", 1)[-1].strip(),
                remote_mta=_strip_type(f.get("remote-mta", "")),
            )
        )
    return reporting, recipients


def _original_id(msg: Message, body_text: str) -> str | None:
    for part in msg.walk():
        ctype = content_type(part)
        if ctype == "message/rfc822":
            inner = children(part)
            if inner:
                ids = parse_message_ids(raw_header(inner[0], "Message-ID"))
                if ids:
                    return ids[0]
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            raw = payload_bytes(part)
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
            ids = parse_message_ids(raw_header(headers, "Message-ID"))
            if ids:
                return ids[0]
    for name in ("X-Original-Message-ID", "In-Reply-To", "References"):
        ids = parse_message_ids(raw_header(msg, name))
        if ids:
            return ids[0] if name != "References" else ids[-1]
    match = _BODY_MSG_ID.search(body_text)
    if match:
        ids = parse_message_ids(match.group(1))
        return ids[0] if ids else None
    return None


def _plain_text(msg: Message) -> str:
    texts = []
    for part in msg.walk():
        if content_type(part).startswith("text/") and not children(part):
            texts.append(part_text(part)[0])
    return "\n".join(texts)


def parse_dsn(msg: Message, *, assume_bounce: bool = False) -> DeliveryReport | None:
    """Parse a bounce. Returns ``None`` when ``msg`` has no delivery-status part and
    ``assume_bounce`` is false (pass True when :func:`classify_automatic` said "bounce")."""
    status_parts = [p for p in msg.walk() if content_type(p) == "message/delivery-status"]
    body_text = _plain_text(msg)
    if status_parts:
        reporting = ""
        recipients: list[RecipientStatus] = []
        for part in status_parts:
            rep, rcpts = _parse_status_blocks(_status_text(part))
            reporting = reporting or rep
            recipients.extend(rcpts)
        if recipients:
            return DeliveryReport(_original_id(msg, body_text), tuple(recipients), reporting, True)
    if not assume_bounce and not status_parts:
        return None
    # Non-RFC bounce (or a report without boundary): best effort from the text.
    reporting, recipients = _parse_status_blocks(body_text)
    if recipients:
        return DeliveryReport(_original_id(msg, body_text), tuple(recipients), reporting, False)
    return DeliveryReport(_original_id(msg, body_text), tuple(_guess_recipients(msg, body_text)), "", False)


def _guess_recipients(msg: Message, text: str) -> list[RecipientStatus]:
    addrs = [a.addr for a in parse_addresses(raw_header(msg, "X-Failed-Recipients")) if a.addr]
    if not addrs:
        match = _RCPT_IN_TEXT.search(text)
        if match:
            addrs = [match.group(1)]
    status_match = _STATUS.search(text)
    status = status_match.group(0) if status_match else ""
    if not status:
        code = _SMTP_CODE.search(text)
        if code:
            status = f"{code.group(1)[0]}.0.0"
    subject = (raw_header(msg, "Subject") or "").lower()
    delayed = status.startswith("4") or "delay" in subject or "warning" in subject
    action = "delayed" if delayed else "failed"
    return [RecipientStatus(recipient=a, action=action, status=status) for a in addrs or [""]]
