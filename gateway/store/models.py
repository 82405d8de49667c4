"""SQLAlchemy 2 models: the single source of the schema (Alembic migrations mirror it).

Naming: a *contact* is a citizen's address on one channel; a *conversation* groups the messages
exchanged with a contact and doubles as the work order (its id is the work-order number shown
to citizens); an *inquiry* is an inbound message. Outbound messages are delivered through
*outbox* rows written in the same transaction as the decision that produced them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes on both backends (SQLite stores naive ones; we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


# BigInteger ids on PostgreSQL, but INTEGER on SQLite so that it is the rowid alias.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Contact(Base):
    """A citizen's address on one channel (a phone number, an e-mail address, a chat session)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contacts_channel_address"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """Messages exchanged with one contact on one channel; also the work order.

    status: ``open`` (the bot is handling it), ``queued`` (waiting for an operator),
    ``forwarded`` (waiting for a department), ``answered`` (a human replied), ``closed``.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "key", name="uq_conversations_channel_key"),
        Index("ix_conversations_status", "status", "last_message_at"),
        # A contact's conversations: the e-mail loop guard counts recent answers per sender.
        Index("ix_conversations_contact", "contact_id", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(320))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    subject: Mapped[str] = mapped_column(String(500), default="")
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), default=None)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    pending_options: Mapped[list[Any] | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(lazy="joined")


class Message(Base):
    """One message, inbound (an inquiry) or outbound (a reply).

    Inbound messages are de-duplicated by ``(channel, direction, provider_message_id)``.
    ``state`` of an inbound message: ``received`` until the responder's decision is committed,
    then ``decided``; start-up re-processes every ``received`` one, so nothing acknowledged is lost.
    ``state`` of an outbound message follows delivery: ``pending``, ``sent``, ``stored``,
    ``delivered``, ``failed``.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "direction", "provider_message_id", name="uq_messages_provider_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_state", "direction", "state"),
        Index("ix_messages_in_reply_to", "in_reply_to_id"),  # the answer to an inquiry (voice)
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    author: Mapped[str] = mapped_column(String(16))  # citizen | bot | operator | department
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    subject: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    entry_id: Mapped[str | None] = mapped_column(String(120), default=None)
    score: Mapped[float | None] = mapped_column(default=None)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Blob(Base):
    """Bytes stored with a message: its raw source (``kind="raw"``) or an attachment.

    ``data`` is ``None`` for an attachment that was dropped (over the size cap, not fetched);
    ``note`` then says why.
    """

    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # raw | attachment
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    note: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """A pending delivery of one outbound message.

    status: ``pending`` → ``sending`` (claimed; ``lease_until`` bounds the claim) → ``sent``;
    or ``dead`` after a permanent error or ``max_attempts`` retryable ones. A ``sending`` row whose
    lease expired belonged to a worker that died and is claimed again.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    last_error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    message: Mapped[Message] = relationship(lazy="raise")


class Department(Base):
    """A government department: contact record and routing target."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    phones: Mapped[dict[str, Any]] = mapped_column(default=dict)
    address: Mapped[str] = mapped_column(Text, default="")
    hours: Mapped[str] = mapped_column(Text, default="")
    duties: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KnowledgeEntry(Base):
    """The current version of one knowledge-base entry (history in :class:`KnowledgeEntryVersion`)."""

    __tablename__ = "knowledge_entries"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # faq | service | policy
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), default=None)
    title: Mapped[str] = mapped_column(String(300))
    questions: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    short_answer: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    review_by: Mapped[dt.date | None] = mapped_column(default=None)
    valid_until: Mapped[dt.date | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KnowledgeEntryVersion(Base):
    """An immutable snapshot of an entry as it was at ``version``."""

    __tablename__ = "knowledge_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_entry_versions"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column()
    changed_by: Mapped[str] = mapped_column(String(120), default="import")
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KnowledgeBaseState(Base):
    """One row: a counter bumped by every knowledge-base change, so processes know to reload."""

    __tablename__ = "knowledge_base_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    """A console/API user: an operator, department staff, or an administrator."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # operator | department | admin
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), default=None)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token issued at login; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class MailboxCursor(Base):
    """How far an IMAP mailbox has been read: the last UID committed under a UIDVALIDITY.

    RFC 9051 §2.3.1.1: UIDs are only comparable while UIDVALIDITY stays the same; when it
    changes the mailbox is read again from the start (Message-ID dedup keeps that harmless).
    """

    __tablename__ = "mailbox_cursors"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(500), unique=True)  # user@host:port/FOLDER, no password
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
