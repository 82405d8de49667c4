"""Recognise automatic mail so the gateway never answers it (mail loops, RFC 3834 section 2).

Signals, strongest first; only top-level headers and the top-level report type are read, so a
citizen forwarding a bounce *as an attachment* is not mistaken for one (the corpus file
``sisimai_not_a_bounce_forward_as_attachment.eml`` checks that):

* ``multipart/report`` (RFC 6522) with ``report-type`` feedback-report (ARF, RFC 5965),
  disposition-notification (MDN read receipt, RFC 8098) or delivery-status (DSN, RFC 3464);
* bounces: ``X-Failed-Recipients`` (Exim), a MAILER-DAEMON/postmaster sender or Return-Path,
  an empty From, typical bounce subjects from a null reverse path;
* auto replies: ``Auto-Submitted`` other than ``no`` (RFC 3834 5.2), ``X-Autoreply``,
  ``X-Autorespond``, Exchange's ``X-Auto-Response-Suppress``, "Automatic reply:"/"自动回复"
  subjects;
* mailing lists: ``List-Id``/``List-Unsubscribe`` (RFC 2919/2369), ``Precedence: list``;
* bulk: ``Precedence: bulk/junk`` (RFC 3834 2 advises not to answer those either).
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Literal

from normalizer.email.headers import decode_header, parse_addresses
from normalizer.email.mime import children, content_type, get_param, raw_header

AutoKind = Literal["bounce", "auto_reply", "mailing_list", "read_receipt", "feedback_report", "bulk"]

_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mail delivery")
_BOUNCE_SUBJECT = re.compile(
    r"(?:undeliver(?:ed|able)|delivery status notification|mail delivery failed|returned mail|"
    r"failure notice|delivery failure|mail system error|warning: could not send|"
    r"delivery (?:has )?failed|nondeliverable|non-delivery|退信|投递失败|系统退信|未送达)",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"(?:automatic reply|auto[- ]?reply|auto[- ]?response|autorespons|out of (?:the )?office|"
    r"abwesenheitsnotiz|réponse automatique|respuesta automática|odpowiedź automatyczna|"
    r"automatische antwort|自动回复|自動回覆|自动答复|自動回复|自动应答|自動應答|.{0,60}\bis out of the office)",
    re.IGNORECASE,
)
_READ_SUBJECT = re.compile(
    r"(?:read:|已读:|已讀:|przeczytano:|potwierdzenie odczytania|gelesen:|lu :|leído:)",
    re.IGNORECASE,
)


def _header(msg: Message, name: str) -> str:
    return decode_header(raw_header(msg, name)).strip()


def _report_type(msg: Message) -> str:
    if content_type(msg) != "multipart/report":
        return ""
    rtype = get_param(msg, "report-type").lower()
    if rtype:
        return rtype
    # No report-type (or no boundary at all): infer from the machine-readable part.
    for part in children(msg):
        ctype = content_type(part)
        if ctype == "message/delivery-status":
            return "delivery-status"
        if ctype == "message/disposition-notification":
            return "disposition-notification"
        if ctype == "message/feedback-report":
            return "feedback-report"
    return "delivery-status"


def _is_daemon(value: str) -> bool:
    lowered = value.lower()
    return any(lowered.startswith(d) or f"<{d}" in lowered or f"{d}@" in lowered for d in _DAEMONS)


def classify_automatic(msg: Message) -> AutoKind | None:
    """Return the kind of automatic mail ``msg`` is, or ``None`` for a (probably) human message."""
    report = _report_type(msg)
    if report == "feedback-report":
        return "feedback_report"
    if report == "disposition-notification":
        return "read_receipt"
    if report == "delivery-status":
        return "bounce"

    subject = _header(msg, "Subject")
    return_path = (raw_header(msg, "Return-Path") or "").strip()
    null_path = return_path.replace(" ", "") in ("<>", "") and raw_header(msg, "Return-Path") is not None
    from_raw = raw_header(msg, "From")
    senders = parse_addresses(from_raw)
    from_addr = senders[0].addr if senders else ""
    from_name = senders[0].name if senders else ""

    if raw_header(msg, "X-Failed-Recipients") is not None:
        return "bounce"
    if _is_daemon(from_addr) or _is_daemon(return_path.strip("<>")):
        return "bounce"
    if _is_daemon(from_name) and not from_addr:
        return "bounce"  # From: "" (Mail Delivery System) - no address at all
    if (null_path or not from_addr) and _BOUNCE_SUBJECT.search(subject):
        return "bounce"
    if raw_header(msg, "Disposition-Notification-To") is None and _READ_SUBJECT.match(subject) and null_path:
        return "read_receipt"

    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return "auto_reply" if auto_submitted.startswith("auto-replied") else "bulk"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response-Suppress"):
        if raw_header(msg, name) is not None:
            return "auto_reply"
    if _AUTO_REPLY_SUBJECT.match(subject):
        return "auto_reply"

    if raw_header(msg, "List-Id") is not None or raw_header(msg, "List-Unsubscribe") is not None:
        return "mailing_list"
    precedence = _header(msg, "Precedence").lower()
    if precedence == "list":
        return "mailing_list"
    if precedence in ("bulk", "junk"):
        return "bulk"
    if null_path or not from_raw or (not from_addr and not from_name):
        # RFC 5321 4.5.5: a null reverse path marks a notification; no From at all is no citizen.
        return "auto_reply" if null_path else "bulk"
    return None
