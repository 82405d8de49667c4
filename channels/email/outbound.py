"""Handing a reply to the relay (aiosmtplib) and translating SMTP failures at the boundary.

RFC 5321 section 4.2.1: a 4yz reply is a transient failure (try again later), 5yz a permanent
one. Network errors and timeouts are transient too. The outbox alone retries; nothing here loops.
"""

from __future__ import annotations

import re
import ssl
import time
from collections import deque
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from channels.email.config import SmtpRelay
from gateway.errors import PermanentSendError, RetryableSendError

_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


def redact_reply(text: str) -> str:
    """A server reply safe to store and log: addresses are replaced (they are personal data)."""
    return _ADDRESS.sub("[address]", " ".join(str(text).split()))[:400]


def _error_for(code: int, message: str) -> RetryableSendError | PermanentSendError:
    reason = redact_reply(f"{code} {message}")
    if 400 <= code < 500:
        return RetryableSendError(reason, code=str(code))
    if code >= 500:
        return PermanentSendError(reason, code=str(code))
    return RetryableSendError(reason, code=str(code) if code > 0 else None)


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc``, if that is what it is.

    aiosmtplib wraps it (``SMTPConnectError`` over implicit TLS), so the chain is followed.
    """
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class RelayClient:
    """Sends replies through one relay, keeping its SMTP sessions open between replies.

    Like Postfix's SMTP connection cache, a session that just delivered a message is kept for
    the next one: a new connection costs a TCP handshake, EHLO, often STARTTLS and AUTH, which
    is most of the work of relaying a short reply. At most ``max_idle`` sessions are kept, each
    for ``idle_seconds``: well below the five minutes a server may wait for a command
    (RFC 5321 section 4.5.3.2.7), since many relays hang up much sooner.

    A kept session the relay has meanwhile closed fails at MAIL FROM; that one send is then
    tried again on a new connection. Nothing is doubled by this: a relay takes responsibility
    for a message only with its reply to the end of DATA (RFC 5321 section 3.3), and that reply
    was never received.
    """

    def __init__(self, relay: SmtpRelay, *, timeout: float, max_idle: int = 8, idle_seconds: float = 10.0):
        self.relay = relay
        self.timeout = timeout
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._idle: deque[tuple[aiosmtplib.SMTP, float]] = deque()

    async def send(
        self, message: EmailMessage, *, sender: str, recipient: str, data: bytes | None = None
    ) -> None:
        """Send ``message`` (or its already-signed ``data``) to ``recipient``.

        Raises :class:`RetryableSendError` for 4yz replies, timeouts and network errors and
        :class:`PermanentSendError` for 5yz replies, both carrying the server's (redacted) reply.
        """
        try:
            session = self._take_idle()
            if session is not None:
                try:
                    await self._transmit(session, message, sender, recipient, data)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    session.close()  # the relay hung up while the session was idle
                else:
                    self._keep(session)
                    return
            session = await self._connect()
            await self._transmit(session, message, sender, recipient, data)
            self._keep(session)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            if refused is None:
                raise RetryableSendError("recipient refused without a reply") from exc
            raise _error_for(refused.code, refused.message) from exc
        except aiosmtplib.SMTPResponseException as exc:  # sender refused, data refused, auth failed...
            raise _error_for(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused/reset, TLS failures, timeouts: nothing was accepted, try later.
            untrusted = _certificate_error(exc)
            if untrusted is not None:  # the administrator's problem: say it plainly
                raise RetryableSendError(
                    f"relay {self.relay.label}: TLS certificate not trusted ({untrusted.verify_message})"
                ) from exc
            raise RetryableSendError(f"relay {self.relay.label} unreachable: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Say QUIT on every kept session."""
        idle, self._idle = self._idle, deque()
        for session, _ in idle:
            try:
                await session.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                session.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        relay = self.relay
        session = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            username=relay.username,
            password=relay.password,
            use_tls=relay.implicit_tls,
            start_tls=relay.starttls,  # explicit: no opportunistic STARTTLS with unverifiable certificates
            timeout=self.timeout,
        )
        await session.connect()
        return session

    @staticmethod
    async def _transmit(
        session: aiosmtplib.SMTP, message: EmailMessage, sender: str, recipient: str, data: bytes | None
    ) -> None:
        try:
            if data is not None:
                await session.sendmail(sender, [recipient], data)
            else:
                await session.send_message(message, sender=sender, recipients=[recipient])
        except BaseException:
            # Also after a refusal, which aiosmtplib answers with RSET: a session that has
            # just refused something is not worth keeping, and a kept one must be known good.
            session.close()
            raise

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            session, since = self._idle.pop()  # the most recently used is the least likely closed
            if now - since <= self.idle_seconds and session.is_connected:
                return session
            session.close()
        return None

    def _keep(self, session: aiosmtplib.SMTP) -> None:
        if len(self._idle) >= self.max_idle or not session.is_connected:
            session.close()
            return
        self._idle.append((session, time.monotonic()))


def dkim_sign(data: bytes, *, key_path: str, selector: str, domain: str) -> bytes:
    """Prepend an RFC 6376 DKIM-Signature to ``data`` (dkimpy, relaxed/relaxed canonicalisation)."""
    import dkim  # imported only when a key is configured: most deployments sign at their relay

    key = Path(key_path).read_bytes()
    headers = [
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"references",
        b"mime-version",
        b"content-type",
        b"auto-submitted",
    ]
    signature = dkim.sign(
        data,
        selector.encode(),
        domain.encode(),
        key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=headers,
    )
    return bytes(signature) + data
