"""The common inquiry format every channel produces.

Whatever a citizen used (SMS, e-mail, fax, web chat, voice) the channel turns the raw event
into one :class:`Inquiry`; everything downstream (pipeline, responder, statistics) sees only this.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with an inquiry (MMS picture, mail attachment, fax page).

    filename: a safe file name (no directories, no control characters).
    content_type: the sniffed or declared MIME type, e.g. ``image/jpeg``.
    data: the raw bytes; ``None`` when the content was dropped (over the size cap)
        or could not be fetched, in which case ``note`` says why.
    url: where the provider keeps the original, if anywhere.
    """

    filename: str
    content_type: str
    data: bytes | None = None
    url: str | None = None
    note: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


DIRECTIVES = {
    "ignore": "store the inquiry, send nothing, do not ask the responder (automatic mail, loops)",
    "reply": "store the inquiry and send metadata['directive_text'] instead of asking the responder",
    "queue": "store the inquiry and queue it for a person without an automatic reply",
}
"""Values of ``Inquiry.metadata["directive"]``; absent means: ask the responder."""


@dataclass(frozen=True, slots=True)
class Inquiry:
    """One incoming message from a citizen, independent of its channel.

    channel: registry name of the channel it arrived on (``webchat``, ``sms``, ``email``...).
        Replies go back out over this same channel.
    sender: the citizen's address on that channel: an E.164 phone number, an e-mail
        address, a web-chat session token. Personal data: never log it.
    recipient: the platform address it was sent to (our phone number, mailbox, ...);
        empty when the channel has only one.
    conversation_key: what ties messages into one conversation on that channel: the web-chat
        session, an e-mail thread root, the phone number pair. Several inquiries share it.
    text: the citizen's words, as they wrote them (quoted history and signatures stripped
        for e-mail; the full original is kept in ``metadata["original_text"]`` when it differs).
    subject: e-mail subject or fax cover title; empty for channels without one.
    language: BCP-47 tag guessed from the text (``zh`` or ``en``), or what the channel knows.
    attachments: files that came with it, see :class:`Attachment`.
    received_at: when the gateway (or the provider, if it says) received it, timezone-aware UTC.
    provider_message_id: the provider's id (Twilio MessageSid, RFC 5322 Message-ID, the web-chat
        ``client_id``); with ``channel`` it identifies the message for de-duplication.
    metadata: channel-specific extras that downstream code may read but must not require
        (Twilio geography fields, mail headers like In-Reply-To, automatic-mail flags).
        One key is read by the pipeline: ``directive`` (see :data:`DIRECTIVES`), by which a channel
        overrides the responder for control messages (an SMS ``STOP``, an auto-reply mail).
    raw_source: the bytes exactly as received (an e-mail's RFC 5322 source), stored beside the
        inquiry for operators and audits; ``None`` for channels where it adds nothing.
    """

    channel: str
    sender: str
    text: str
    provider_message_id: str
    conversation_key: str
    recipient: str = ""
    subject: str = ""
    language: str = "zh"
    attachments: tuple[Attachment, ...] = ()
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    metadata: dict[str, Any] = field(default_factory=dict)
    raw_source: bytes | None = None

    def __post_init__(self) -> None:
        if not self.channel:
            raise ValueError("Inquiry.channel must not be empty")
        if not self.provider_message_id:
            raise ValueError("Inquiry.provider_message_id must not be empty (needed for dedup)")
        if self.received_at.tzinfo is None:
            raise ValueError("Inquiry.received_at must be timezone-aware")
        directive = self.metadata.get("directive")
        if directive is not None and directive not in DIRECTIVES:
            raise ValueError(f"unknown Inquiry directive {directive!r}")
