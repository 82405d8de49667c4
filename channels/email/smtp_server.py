"""The inbound SMTP listener: aiosmtpd's protocol served from the gateway's own event loop.

aiosmtpd's threaded ``Controller`` would run the handler in another loop; here the server is a
plain ``loop.create_server`` so that ``on_message`` (the pipeline, the database engine) runs in
the loop that owns them. Policy, with the reply codes of RFC 5321 section 4.2 and RFC 3463:

* only recipients in ``[mail] domains`` (``550 5.7.1`` otherwise: never an open relay);
* SIZE advertised (RFC 1870) and enforced (``552``), ``8BITMIME`` and ``SMTPUTF8`` (RFC 6531);
* at most ``max_recipients`` per message (``452 4.5.3``), ``max_connections`` at once (``421``),
  ``idle_timeout_seconds`` of silence (``421``);
* ``250`` only after the inquiry and its raw source are committed; ``451 4.3.0`` when storage
  failed, so the sending MTA keeps the message and retries;
* STARTTLS (RFC 3207) when a certificate and key are configured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import ssl
from email.utils import format_datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.inbound import InboundMail
from gateway.errors import BadInput, ConfigError, StorageUnavailable
from gateway.settings import Settings

log = logging.getLogger(__name__)

# aiosmtpd logs every command line (MAIL FROM:<citizen@...>) at INFO: addresses are personal data.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server TLS context when both ``[smtp] tls_cert`` and ``tls_key`` are set."""
    if not settings.smtp_tls_cert and not settings.smtp_tls_key:
        return None
    if not (settings.smtp_tls_cert and settings.smtp_tls_key):
        raise ConfigError("smtp_tls_cert", "tls_cert and tls_key must be set together")
    for key, path in (("smtp_tls_cert", settings.smtp_tls_cert), ("smtp_tls_key", settings.smtp_tls_key)):
        try:  # name the file that is missing or unreadable, not always the certificate
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from exc
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.smtp_tls_cert, settings.smtp_tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("smtp_tls_cert", f"cannot load certificate/key: {exc}") from exc
    return context


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


class MailHandler:
    """aiosmtpd handler hooks (called by :class:`aiosmtpd.smtp.SMTP` for each command)."""

    def __init__(self, inbound: InboundMail, settings: Settings, hostname: str) -> None:
        self.inbound = inbound
        self.domains = {d.strip().rstrip(".").lower() for d in settings.mail_domains}
        self.max_recipients = settings.smtp_max_recipients
        self.hostname = hostname

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if _domain_of(address) not in self.domains:
            return "550 5.7.1 Relaying denied: not a domain served here"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = self._trace(session, envelope) + (content if isinstance(content, bytes) else content.encode())
        try:
            inquiry_id = await self.inbound.receive(raw, via="smtp")
        except StorageUnavailable:
            return "451 4.3.0 Temporary storage failure, try again later"
        except BadInput as exc:
            return f"554 5.6.0 {str(exc)[:200]}"
        except Exception:  # a bug must not make the sender believe we kept the message
            log.exception("storing an SMTP message failed")
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 2.0.0 OK: queued as {inquiry_id}"

    def _trace(self, session: Session, envelope: Envelope) -> bytes:
        """RFC 5321 4.4: the final-delivery server adds Return-Path (the envelope sender; ``<>``
        marks a bounce) and a Received trace line; its unique ``id`` also keeps two identical
        messages without Message-ID apart (their content hash is their de-duplication key)."""
        sender = envelope.mail_from or ""
        peer = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
        protocol = "ESMTPS" if session.ssl else "ESMTP"
        when = format_datetime(dt.datetime.now(dt.UTC))
        return (
            f"Return-Path: <{sender}>\r\n"
            f"Received: from {session.host_name or 'unknown'} ([{peer}])\r\n"
            f"\tby {self.hostname} with {protocol} id {secrets.token_hex(8)}; {when}\r\n"
        ).encode("utf-8", "replace")


class _Busy(asyncio.Protocol):
    """Answers a connection over the limit with 421 (RFC 5321 3.8) and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
        transport.close()


class _TrackedSMTP(SMTP):
    """An SMTP session that registers itself, for the connection limit and for closing."""

    def __init__(self, registry: set[SMTP], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registry = registry

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._registry.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # aiosmtpd just drops an idle client; RFC 5321 3.8 asks for a 421 first, so that the
        # client knows it was a timeout and not a crash. (Overrides aiosmtpd's private hook.)
        transport: Any = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(b"421 4.4.2 Idle timeout, closing connection\r\n")
        super()._timeout_cb()


class SmtpListener:
    """Owns the listening socket and the live sessions; :meth:`start` / :meth:`aclose`."""

    def __init__(self, settings: Settings, inbound: InboundMail) -> None:
        self.settings = settings
        self.hostname = (settings.mail_domains or ["localhost"])[0]
        self.handler = MailHandler(inbound, settings, self.hostname)
        self.tls = tls_context(settings)
        self.sessions: set[SMTP] = set()
        self._server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int | None:
        server: Any = self._server  # an asyncio.Server, which has .sockets
        if server is None or not server.sockets:
            return None
        return int(server.sockets[0].getsockname()[1])

    def _protocol(self) -> asyncio.BaseProtocol:
        if len(self.sessions) >= self.settings.smtp_max_connections:
            return _Busy()
        return _TrackedSMTP(
            self.sessions,
            self.handler,
            data_size_limit=self.settings.smtp_max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            ident="Sunshine Gateway ESMTP",
            tls_context=self.tls,
            timeout=self.settings.smtp_idle_timeout_seconds,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, host=self.settings.smtp_host, port=self.settings.smtp_port
        )
        log.info("SMTP listener on %s:%s", self.settings.smtp_host, self.port)

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self.sessions):
            transport: Any = session.transport
            if transport is not None:
                transport.close()
        await server.wait_closed()
