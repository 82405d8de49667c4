"""The channel contract: the one small interface every channel implements.

A channel is I/O only: it receives raw events from a provider or client, turns them into
:class:`~normalizer.Inquiry` objects with the pure functions in ``normalizer/``, hands them to the
pipeline through ``on_message`` (which returns only after the inquiry is committed, so the channel
may then acknowledge its sender), and sends :class:`OutboundMessage` objects back out.

Lifecycle: ``from_config(settings, context)`` → ``start(on_message)`` → any number of ``send`` →
``aclose()``. HTTP-based channels also expose an APIRouter through :attr:`Channel.router`.
See ``docs/adding-a-channel.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from fastapi import APIRouter

    from gateway.metrics import Metrics
    from gateway.settings import Settings
    from gateway.store.db import SessionFactory
    from normalizer import Inquiry


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can carry; the responder renders replies down to it.

    max_text_chars: hard limit on one reply's length, ``None`` for unlimited.
    max_segments: SMS segments a reply may use (``None`` when segments do not apply).
    rich_text: whether HTML / formatting survives (e-mail yes, SMS no).
    media_types: MIME types the channel can send as attachments.
    supports_options: whether numbered options can be shown as clickable choices.
    threads: whether replies can be threaded (e-mail In-Reply-To).
    """

    max_text_chars: int | None = None
    max_segments: int | None = None
    rich_text: bool = False
    media_types: tuple[str, ...] = ()
    supports_options: bool = False
    threads: bool = False


@dataclass(frozen=True, slots=True)
class Manifest:
    """Static description of a channel package (its ``MANIFEST``)."""

    name: str
    title: str
    capabilities: Capabilities
    settings_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply to deliver, as the outbox hands it to :meth:`Channel.send`.

    message_id: the stored outbound message's id, stable across retries.
    idempotency_key: identical for every attempt of this message; channels pass it to providers
        that support idempotency, and use it to avoid double delivery themselves.
    recipient: the citizen's address on the channel (the inquiry's ``sender``).
    conversation_key: the conversation it belongs to (web-chat session, e-mail thread).
    author: ``bot``, ``operator`` or ``department``.
    options: numbered choices for a ``clarify`` reply: ``[{"n": 1, "id": ..., "title": ...}]``.
    in_reply_to: the provider id of the inbound message this answers, when there is one.
    metadata: channel-specific extras (subject, references...).
    attempt: 1 on the first try. Above 1, an earlier try may have reached the provider without
        its outcome being recorded (a response lost on the way back, a crash in between); a
        channel whose provider has no idempotency key checks for that before sending again.
    queued_at: when the reply was queued; nothing of it can have been sent before.
    """

    message_id: int
    idempotency_key: str
    channel: str
    recipient: str
    conversation_key: str
    text: str
    author: str = "bot"
    inquiry_id: int | None = None
    options: tuple[dict[str, Any], ...] = ()
    in_reply_to: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    queued_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a successful send produced.

    provider_message_id: the provider's id for the sent message (Twilio SID, Message-ID).
    status: ``sent`` when handed over; ``delivered`` when the channel knows it arrived;
        ``stored`` when the citizen is not connected and will see it on return (web chat).
    """

    provider_message_id: str | None = None
    status: str = "sent"
    sent_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the runtime lends a channel besides its settings.

    session_factory: read access to stored conversations (web-chat history, delivery receipts).
        Channels never write inquiries themselves: that is ``on_message``'s job.
    metrics: the process's metrics, for channel-specific gauges.
    """

    session_factory: SessionFactory
    metrics: Metrics


InquiryHandler = Callable[["Inquiry"], Awaitable[int]]
"""``on_message``: persists an inquiry and returns its id once committed.

Raises :class:`gateway.errors.StorageUnavailable` when it could not commit, and
:class:`gateway.errors.BadInput` for unusable input. A duplicate (same channel and provider
message id) returns the id of the first copy.
"""


class Channel:
    """Base class of every channel. Subclasses set ``MANIFEST`` and override what they need."""

    MANIFEST: ClassVar[Manifest]

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.on_message: InquiryHandler | None = None

    @classmethod
    def from_config(cls, settings: Settings, context: ChannelContext) -> Channel | None:
        """Build the channel from settings; return ``None`` when it is not configured (disabled)."""
        return cls(settings, context)

    @property
    def name(self) -> str:
        return self.MANIFEST.name

    @property
    def capabilities(self) -> Capabilities:
        return self.MANIFEST.capabilities

    @property
    def router(self) -> APIRouter | None:
        """HTTP routes (webhooks, sockets) this channel serves, mounted by the web app."""
        return None

    async def start(self, on_message: InquiryHandler) -> None:
        """Begin receiving. Long-running listeners are started here and stopped in :meth:`aclose`."""
        self.on_message = on_message

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one reply; raise a :class:`gateway.errors.SendError` subclass on failure."""
        raise NotImplementedError(f"channel {self.name} cannot send")

    def send_recorded(self, result: SendResult) -> None:
        """Called once the outbox has committed ``result`` of a :meth:`send`: from then on the
        message can be found by its ``provider_message_id`` (delivery receipts wait for this)."""

    async def aclose(self) -> None:
        """Stop listeners and release connections. Must be safe to call twice."""
