"""Twilio's REST API over ``httpx.AsyncClient``: sending messages and fetching MMS media.

The official ``twilio`` SDK's client is synchronous (``requests``) and would block the event loop,
so the two calls the gateway needs are made here directly, exactly as the SDK makes them:
``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form body and HTTP Basic
auth ``AccountSid:AuthToken`` (Twilio REST API reference, "Message resource"). Twilio's errors are
translated once, here, into :mod:`gateway.errors` (see :func:`normalizer.twilio.classify_twilio_error`).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.errors import PermanentSendError, RetryableSendError
from normalizer.inquiry import Attachment
from normalizer.twilio import classify_twilio_error

API_VERSION = "2010-04-01"
# Twilio refuses bodies over 1600 characters (error 21617); segments are fitted long before that.
MAX_BODY_CHARS = 1600


@dataclass(frozen=True, slots=True)
class Sent:
    """Twilio accepted a message: its SID and initial status (``queued`` or ``accepted``)."""

    sid: str
    status: str


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class TwilioRest:
    """One account's REST client. Create in ``start``-time code; close with :meth:`aclose`."""

    def __init__(self, api_base: str, account_sid: str, auth_token: str, *, timeout: float) -> None:
        self.api_base = api_base.rstrip("/")
        self.account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        # Connection reuse matters at load: one pool for all sends of the process.
        self._client = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )

    @property
    def messages_url(self) -> str:
        return f"{self.api_base}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def create_message(self, form: dict[str, str]) -> Sent:
        """Create a Message resource; raise a :class:`~gateway.errors.SendError` subclass on failure.

        Network errors before a response are retryable. A timeout *after* the request went out
        is retried too: Twilio may then have accepted it, but its Messages API has no
        idempotency key, and a rare duplicate is better than a lost answer.
        """
        if self._client.is_closed:  # shutting down: the outbox tries again after the restart
            raise RetryableSendError("Twilio client closed (gateway shutting down)")
        try:
            response = await self._client.post(self.messages_url, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"Twilio unreachable ({type(exc).__name__})") from exc
        except RuntimeError as exc:  # the client was closed while this request waited for a connection
            raise RetryableSendError("Twilio client closed (gateway shutting down)") from exc
        if response.status_code in (200, 201):
            try:
                body = response.json()
                return Sent(str(body["sid"]), str(body.get("status") or "queued"))
            except (ValueError, KeyError, TypeError) as exc:
                # Accepted but unreadable: retrying could send twice, so give up loudly.
                raise PermanentSendError("Twilio accepted the message but its answer was unreadable") from exc
        try:
            error: Any = response.json()
        except ValueError:
            error = None
        retryable, code, reason = classify_twilio_error(response.status_code, error)
        cls = RetryableSendError if retryable else PermanentSendError
        raise cls(reason, code=code or str(response.status_code))

    async def fetch_media(
        self, index: int, url: str, declared_type: str | None, *, max_bytes: int, allowed: frozenset[str]
    ) -> Attachment:
        """Download one MMS medium. Never raises: a failure is an Attachment without data and a note.

        The account's credentials go only to the API's own origin (Twilio media URLs live on
        api.twilio.com and answer with a redirect to short-lived storage URLs, followed here;
        httpx drops the Authorization header on a cross-origin redirect).
        """
        content_type = (declared_type or "application/octet-stream").split(";")[0].strip().lower()
        name = f"media{index}{mimetypes.guess_extension(content_type) or '.bin'}"
        scheme, host = _origin(url)
        if scheme not in ("http", "https") or not host:
            return Attachment(name, content_type, None, url, "not fetched: not an absolute http(s) URL")
        if content_type not in allowed:
            return Attachment(name, content_type, None, url, "not fetched: media type not allowed")
        auth = self._auth if (scheme, host) == _origin(self.api_base) else None
        if self._client.is_closed:
            return Attachment(name, content_type, None, url, "not fetched: gateway shutting down")
        try:
            async with self._client.stream("GET", url, auth=auth, follow_redirects=True) as response:
                if response.status_code != 200:
                    return Attachment(
                        name, content_type, None, url, f"fetch failed: HTTP {response.status_code}"
                    )
                served = response.headers.get("content-type", content_type).split(";")[0].strip().lower()
                if served not in allowed:
                    return Attachment(name, served, None, url, "not stored: media type not allowed")
                declared_length = response.headers.get("content-length", "")
                if declared_length.isdigit() and int(declared_length) > max_bytes:
                    return Attachment(name, served, None, url, f"not stored: larger than {max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        return Attachment(
                            name, served, None, url, f"not stored: larger than {max_bytes} bytes"
                        )
                    chunks.append(chunk)
                return Attachment(name, served, b"".join(chunks), url)
        except httpx.HTTPError as exc:
            return Attachment(name, content_type, None, url, f"fetch failed: {type(exc).__name__}")
