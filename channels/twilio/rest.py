"""Twilio's REST API over ``httpx.AsyncClient``: sending messages and fetching MMS media.

The official ``twilio`` SDK's client is synchronous (``requests``) and would block the event loop,
so the two calls the gateway needs are made here directly, exactly as the SDK makes them:
``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form body and HTTP Basic
auth ``AccountSid:AuthToken`` (Twilio REST API reference, "Message resource"). Twilio's errors are
translated once, here, into :mod:`gateway.errors` (see :func:`normalizer.twilio.classify_twilio_error`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import mimetypes
from collections.abc import Mapping
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
# Error code of a send whose request went out but whose answer never came back.
NO_ANSWER = "no-answer"
# After the request was written: the server may have acted on it (RFC 9110 section 9.2.2: POST
# is not idempotent, so a client must not assume either way).
_NO_ANSWER = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)
# How many of the latest messages to one number a retry looks through for an earlier acceptance.
LOOKUP_PAGE_SIZE = 50


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

        Every network error is retryable. One that struck after the request went out (no answer,
        a dropped connection) is ambiguous: Twilio may have accepted the message. Its Messages
        API has no idempotency key, so the retry asks first (:meth:`find_accepted`).
        """
        if self._client.is_closed:  # shutting down: the outbox tries again after the restart
            raise RetryableSendError("Twilio client closed (gateway shutting down)")
        try:
            response = await self._client.post(self.messages_url, data=form, auth=self._auth)
        except _NO_ANSWER as exc:
            raise RetryableSendError(
                f"no answer from Twilio after sending ({type(exc).__name__}); it may have been accepted",
                code=NO_ANSWER,
            ) from exc
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

    async def find_accepted(self, form: Mapping[str, str], since: dt.datetime) -> list[Sent]:
        """Messages Twilio accepted at or after ``since`` with this form's To, From and Body.

        Most recent first. Reads the account's message list filtered by To and From (Twilio REST
        API reference, "Read multiple Message resources": ``GET Messages.json``, most recent
        first, ``PageSize`` up to 1000). Raises :class:`RetryableSendError` when Twilio cannot be
        asked: the caller must not send without knowing.
        """
        params = {"To": form["To"], "From": form["From"], "PageSize": str(LOOKUP_PAGE_SIZE)}
        try:
            response = await self._client.get(self.messages_url, params=params, auth=self._auth)
        except (httpx.HTTPError, RuntimeError) as exc:
            raise RetryableSendError(f"cannot ask Twilio what it accepted ({type(exc).__name__})") from exc
        try:
            listed = response.json()["messages"] if response.status_code == 200 else None
        except (ValueError, KeyError, TypeError):
            listed = None
        if not isinstance(listed, list):
            raise RetryableSendError(f"cannot ask Twilio what it accepted (HTTP {response.status_code})")
        found = []
        for resource in listed:
            if not isinstance(resource, dict) or resource.get("body") != form["Body"]:
                continue
            try:
                created = email.utils.parsedate_to_datetime(str(resource["date_created"]))
            except (KeyError, TypeError, ValueError):
                continue  # RFC 2822 dates, as in every Twilio resource; anything else is not ours
            if created >= since and resource.get("sid"):
                found.append(Sent(str(resource["sid"]), str(resource.get("status") or "queued")))
        return found

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
