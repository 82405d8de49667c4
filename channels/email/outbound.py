"""Handing a reply to the relay (aiosmtplib) and translating SMTP failures at the boundary.

RFC 5321 section 4.2.1: a 4yz reply is a transient failure (try again later), 5yz a permanent
one. Network errors and timeouts are transient too. The outbox alone retries; nothing here loops.
"""

from __future__ import annotations

import re
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


async def relay_send(
    message: EmailMessage,
    relay: SmtpRelay,
    *,
    sender: str,
    recipient: str,
    timeout: float,
    data: bytes | None = None,
) -> None:
    """Send ``message`` (or its already-signed ``data``) through ``relay`` to ``recipient``.

    Raises :class:`RetryableSendError` for 4yz replies, timeouts and network errors and
    :class:`PermanentSendError` for 5yz replies, both carrying the server's (redacted) reply.
    """
    try:
        _, _ = await aiosmtplib.send(
            data if data is not None else message,
            sender=sender,
            recipients=[recipient],
            hostname=relay.host,
            port=relay.port,
            username=relay.username,
            password=relay.password,
            use_tls=relay.implicit_tls,
            start_tls=relay.starttls,  # explicit: no opportunistic STARTTLS with unverifiable certificates
            timeout=timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0] if exc.recipients else None
        if refused is None:
            raise RetryableSendError("recipient refused without a reply") from exc
        raise _error_for(refused.code, refused.message) from exc
    except aiosmtplib.SMTPResponseException as exc:  # sender refused, data refused, auth failed...
        raise _error_for(exc.code, exc.message) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # Connection refused/reset, TLS failures, timeouts: nothing was accepted, try later.
        raise RetryableSendError(f"relay {relay.label} unreachable: {type(exc).__name__}") from exc


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
