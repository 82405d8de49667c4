"""The e-mail channel: SMTP listener + IMAP pollers in, relay out.

Enabled by ``"email"`` in ``[channels] enabled``. Inbound mail arrives on the SMTP listener
(``[smtp] host/port``, port 0 turns it off) and from every ``[imap] url`` mailbox; both commit
through :class:`~channels.email.inbound.InboundMail` before acknowledging. Replies leave through
``[smtp] relay_url``; without one, :meth:`EmailChannel.send` raises a retryable error so replies
wait in the outbox until a relay is configured.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from channels.base import (
    Capabilities,
    Channel,
    ChannelContext,
    InquiryHandler,
    Manifest,
    OutboundMessage,
    SendResult,
)
from channels.email.compose import DepartmentContact, ReplySpec, build_reply, message_id_for
from channels.email.config import ImapMailbox, SmtpRelay, parse_imap_url, parse_relay_url
from channels.email.imap_poller import MailboxPoller
from channels.email.inbound import CHANNEL, InboundMail
from channels.email.outbound import RelayClient, dkim_sign
from channels.email.smtp_server import SmtpListener, tls_context
from gateway.errors import ConfigError, PermanentSendError, RetryableSendError
from gateway.settings import Settings
from gateway.store.models import Conversation, Department

log = logging.getLogger(__name__)


class EmailChannel(Channel):
    """Mail in (SMTP, IMAP) and out (relay). See the module docstring."""

    MANIFEST = Manifest(
        name=CHANNEL,
        title="E-mail",
        capabilities=Capabilities(rich_text=True, threads=True),
        settings_keys=(
            "smtp_host",
            "smtp_port",
            "smtp_relay_url",
            "smtp_max_message_bytes",
            "smtp_max_recipients",
            "smtp_max_connections",
            "smtp_idle_timeout_seconds",
            "smtp_tls_cert",
            "smtp_tls_key",
            "mail_domains",
            "mail_from",
            "mail_dkim_key_path",
            "mail_dkim_selector",
            "imap_url",
            "imap_move_to",
            "imap_poll_seconds",
        ),
    )

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        relay: SmtpRelay | None = (
            parse_relay_url(settings.smtp_relay_url) if settings.smtp_relay_url else None
        )
        self.relay: RelayClient | None = (
            RelayClient(relay, timeout=settings.smtp_relay_timeout_seconds) if relay is not None else None
        )
        self.mailboxes: list[ImapMailbox] = [parse_imap_url(url) for url in settings.imap_url]
        if "@" not in settings.mail_from:
            raise ConfigError("mail_from", "must be an e-mail address")
        self.domain = settings.mail_from.rpartition("@")[2].lower()
        if bool(settings.mail_dkim_key_path) != bool(settings.mail_dkim_selector):
            raise ConfigError("mail_dkim_key_path", "dkim_key_path and dkim_selector must be set together")
        tls_context(settings)  # fail at start-up, naming the key, when the certificate is unusable
        self.listener: SmtpListener | None = None
        self.pollers: list[MailboxPoller] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def smtp_port(self) -> int | None:
        """The port the SMTP listener is bound to (None when it is off)."""
        return self.listener.port if self.listener is not None else None

    async def start(self, on_message: InquiryHandler) -> None:
        await super().start(on_message)
        inbound = InboundMail(self.settings, self.context.session_factory, on_message)
        if self.settings.smtp_port:
            self.listener = SmtpListener(self.settings, inbound)
            await self.listener.start()
        for mailbox in self.mailboxes:
            poller = MailboxPoller(mailbox, self.settings, self.context.session_factory, inbound)
            self.pollers.append(poller)
            self._tasks.append(asyncio.create_task(poller.run(), name=f"imap {poller.where}"))

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        listener, self.listener = self.listener, None
        if listener is not None:
            await listener.aclose()
        if self.relay is not None:
            await self.relay.aclose()

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one reply through the relay; the Message-ID follows from the idempotency key."""
        if self.relay is None:
            raise RetryableSendError("no relay configured ([smtp] relay_url)")
        metadata = message.metadata
        work_order, department = await self._lookups(message)
        spec = ReplySpec(
            sender=self.settings.mail_from,
            recipient=message.recipient,
            text=message.text,
            idempotency_key=message.idempotency_key,
            subject=str(metadata.get("subject") or ""),
            in_reply_to=message.in_reply_to,
            thread_root=message.conversation_key,
            automatic=message.author == "bot",
            language=str(metadata.get("language") or "zh"),
            work_order=work_order,
            department=department,
        )
        try:
            email = build_reply(spec, domain=self.domain)
        except (ValueError, TypeError) as exc:  # an address the e-mail library cannot write
            raise PermanentSendError(f"cannot build the message: {type(exc).__name__}") from exc
        data = None
        if self.settings.mail_dkim_key_path and self.settings.mail_dkim_selector:
            data = await asyncio.to_thread(
                dkim_sign,
                email.as_bytes(),
                key_path=self.settings.mail_dkim_key_path,
                selector=self.settings.mail_dkim_selector,
                domain=self.domain,
            )
        await self.relay.send(email, sender=self.settings.mail_from, recipient=message.recipient, data=data)
        return SendResult(provider_message_id=message_id_for(message.idempotency_key, self.domain))

    async def _lookups(self, message: OutboundMessage) -> tuple[int | None, DepartmentContact | None]:
        """The work-order number for the subject tag and, under an answer, the department."""
        department_id = message.metadata.get("department_id")
        with_department = department_id and message.metadata.get("decision") == "answer"
        async with self.context.session_factory() as session:
            work_order = await session.scalar(
                select(Conversation.id).where(
                    Conversation.channel == CHANNEL, Conversation.key == message.conversation_key
                )
            )
            row = await session.get(Department, str(department_id)) if with_department else None
        department = (
            DepartmentContact(row.name, dict(row.phones or {}), row.address, row.hours, row.email)
            if row is not None
            else None
        )
        return work_order, department
