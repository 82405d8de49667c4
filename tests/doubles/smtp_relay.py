"""A local SMTP relay double: an aiosmtpd server in the test's loop that records what it gets.

It stands in for the organisation's outgoing relay (an external provider). Switches make it answer
like a real relay under trouble: ``fail_next(code, text, times)`` refuses the next messages at
RCPT with a 4xx (temporary, e.g. greylisting) or 5xx (permanent, e.g. unknown user) reply.

With a server ``tls`` context it speaks TLS like a submission relay: STARTTLS required before MAIL
(``530`` otherwise; RFC 3207), or implicit TLS from the first byte (``implicit=True``, RFC 8314).
Each :class:`RelayedMail` records the TLS version its session was encrypted with.

:attr:`SmtpRelayDouble.connections` counts the SMTP sessions clients opened, and
``hang_up()`` closes the open ones, as a relay does with sessions idle past its timeout.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class RelayedMail:
    """One accepted message: envelope and the parsed content."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls_version: str | None = None  # "TLSv1.3"... when the session was encrypted

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpRelayDouble:
    """Records accepted mail in :attr:`received` (an asyncio queue) and counts refusals."""

    def __init__(self, *, tls: bool = False, implicit: bool = False) -> None:
        self.received: asyncio.Queue[RelayedMail] = asyncio.Queue()
        self.refused = 0
        self.port = 0
        self.tls = tls
        self.implicit = implicit
        self.connections = 0
        self._failures: list[str] = []
        self._open: list[SMTP] = []

    def session_opened(self, protocol: SMTP) -> SMTP:
        self.connections += 1
        self._open = [p for p in self._open if p.transport is not None and not p.transport.is_closing()]
        self._open.append(protocol)
        return protocol

    def hang_up(self) -> None:
        """Close every open client session from the server's side."""
        for protocol in self._open:
            if protocol.transport is not None:
                protocol.transport.close()
        self._open.clear()

    @property
    def url(self) -> str:
        if self.tls and self.implicit:
            return f"smtps://127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}" + ("?starttls=true" if self.tls else "")

    def fail_next(self, code: int, text: str, times: int = 1) -> None:
        """Refuse the next ``times`` recipients with ``code text``."""
        self._failures.extend([f"{code} {text}"] * times)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._failures:
            self.refused += 1
            return self._failures.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        transport = server.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        version = ssl_object.version() if ssl_object is not None else None
        self.received.put_nowait(
            RelayedMail(envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(data), version)
        )
        return "250 OK"

    async def next_mail(self, timeout: float = 10.0) -> RelayedMail:
        return await asyncio.wait_for(self.received.get(), timeout)


@asynccontextmanager
async def smtp_relay(
    tls: ssl.SSLContext | None = None, *, implicit: bool = False
) -> AsyncIterator[SmtpRelayDouble]:
    """Run a relay double on a free loopback port for the duration of the block.

    ``tls``: a server context; STARTTLS is then required, or with ``implicit`` the port is TLS-only.
    """
    assert tls is not None or not implicit, "implicit TLS needs a context"
    relay = SmtpRelayDouble(tls=tls is not None, implicit=implicit)
    loop = asyncio.get_running_loop()
    starttls = tls if tls is not None and not implicit else None
    server = await loop.create_server(
        lambda: relay.session_opened(
            SMTP(
                relay,
                enable_SMTPUTF8=True,
                hostname="relay.test",
                tls_context=starttls,
                require_starttls=starttls is not None,
                loop=loop,
            )
        ),
        "127.0.0.1",
        0,
        ssl=tls if implicit else None,
    )
    relay.port = server.sockets[0].getsockname()[1]
    try:
        yield relay
    finally:
        server.close()
        relay.hang_up()  # sessions a client kept open must not hold the server up
        await server.wait_closed()
