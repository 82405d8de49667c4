"""Building a reply e-mail (pure: values in, an :class:`EmailMessage` out).

Headers follow RFC 5322 section 3.6.4 for threading (In-Reply-To = the citizen's Message-ID,
References = the thread root then that id), RFC 3834 section 5 for ``Auto-Submitted`` (only on
answers the bot wrote, so that the citizen's own auto-responder does not answer back), and the
subject gets exactly one ``Re:`` plus the work-order tag ``[#id]``, which threads a later message
even when the citizen's client drops In-Reply-To/References.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from normalizer.email import find_work_order_tag, reply_subject

_CONTACT_LABELS = {
    "zh": {
        "phone": "电话",
        "address": "地址",
        "hours": "办公时间",
        "email": "邮箱",
        "consult": "咨询",
        "complaint": "投诉",
        "supervision": "监督",
    },
    "en": {
        "phone": "Phone",
        "address": "Address",
        "hours": "Opening hours",
        "email": "E-mail",
        "consult": "enquiries",
        "complaint": "complaints",
        "supervision": "supervision",
    },
}


@dataclass(frozen=True, slots=True)
class DepartmentContact:
    """The department details printed under an answer (from the ``departments`` table)."""

    name: str
    phones: Mapping[str, Any]
    address: str = ""
    hours: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class ReplySpec:
    """Everything one reply needs; built by the channel from an ``OutboundMessage``."""

    sender: str
    recipient: str
    text: str
    idempotency_key: str
    subject: str = ""
    in_reply_to: str | None = None
    thread_root: str | None = None
    automatic: bool = True
    work_order: int | None = None
    language: str = "zh"
    department: DepartmentContact | None = None


def message_id_for(idempotency_key: str, domain: str) -> str:
    """A Message-ID (without brackets) derived from the idempotency key, so that every retry of
    one reply carries the same id and the citizen's client can drop a duplicate (RFC 5322 3.6.4)."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"{digest}@{domain}"


def contact_block(department: DepartmentContact, language: str) -> str:
    """Plain-text contact details of ``department`` in the reply's language."""
    labels = _CONTACT_LABELS.get(language, _CONTACT_LABELS["zh"])
    lines = [department.name]
    phones = [f"{labels.get(kind, kind)} {number}" for kind, number in department.phones.items() if number]
    if phones:
        lines.append(f"{labels['phone']}: " + "; ".join(phones))
    for key in ("address", "hours", "email"):
        value = getattr(department, key)
        if value:
            lines.append(f"{labels[key]}: {value}")
    return "\n".join(lines)


def _subject(spec: ReplySpec) -> str:
    subject = reply_subject(spec.subject)
    if spec.work_order is not None and find_work_order_tag(subject) is None:
        subject = f"{subject} [#{spec.work_order}]"
    return subject


def _html(paragraphs: list[str]) -> str:
    # Every piece of text is escaped: replies may quote citizens and KB text verbatim.
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in para.split("\n")) + "</p>" for para in paragraphs
    )
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}\n</body></html>\n'


def build_reply(spec: ReplySpec, *, domain: str, now: dt.datetime | None = None) -> EmailMessage:
    """The reply as a ``multipart/alternative`` (text/plain, text/html) message."""
    msg = EmailMessage()
    msg["From"] = Address(addr_spec=spec.sender)
    msg["To"] = Address(addr_spec=spec.recipient)
    msg["Subject"] = _subject(spec)
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = f"<{message_id_for(spec.idempotency_key, domain)}>"
    if spec.in_reply_to:
        msg["In-Reply-To"] = f"<{spec.in_reply_to}>"
        refs = [r for r in (spec.thread_root, spec.in_reply_to) if r]
        msg["References"] = " ".join(f"<{r}>" for r in dict.fromkeys(refs))
    if spec.automatic:
        msg["Auto-Submitted"] = "auto-replied"  # RFC 3834 5.1
    msg["Content-Language"] = spec.language
    paragraphs = [p for p in spec.text.replace("\r\n", "\n").split("\n\n")]
    text = spec.text
    if spec.department is not None:
        block = contact_block(spec.department, spec.language)
        text = f"{text}\n\n-- \n{block}"  # "-- " is the usenet signature separator clients dim
        paragraphs.append(block)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(_html(paragraphs), subtype="html", charset="utf-8")
    return msg
