"""A local double of Twilio's REST Messages API, speaking its real wire format.

    async with TwilioDouble(account_sid=SID, auth_token=TOKEN, auto_status=("sent", "delivered")) as tw:
        settings.twilio_api_base = tw.base_url          # instead of https://api.twilio.com
        ...                                             # the code under test sends an SMS
        [sent] = await tw.wait_for_messages(1, timeout=5)
        tw.fail_next(429, 20429, "Too Many Requests")   # the next send gets this error
        await tw.send_status(sid, "delivered")          # signed callback to the StatusCallback URL

Routes (as on api.twilio.com, HTTP Basic auth ``AccountSid:AuthToken``):

* ``POST /2010-04-01/Accounts/{sid}/Messages.json``: create a message; 201 with a Message
  resource; 400 with Twilio's error codes 21604 (no To), 21211 (To not E.164), 21603 (no From /
  MessagingServiceSid), 21602 (no Body/MediaUrl), 21617 (Body over 1600), 21610 (opted out);
* ``GET /2010-04-01/Accounts/{sid}/Messages.json``: the accepted messages, most recent first, in
  Twilio's page shape (``{"messages": [...], "page", "page_size", "next_page_uri"...}``),
  filtered by ``To`` and ``From``, at most ``PageSize`` (default 50);
* ``GET /2010-04-01/Accounts/{sid}/Messages/{MessageSid}.json``: the stored resource;
* ``GET /2010-04-01/Accounts/{sid}/Messages/{MMsid}/Media/{MEsid}``: media added with
  :meth:`TwilioDouble.add_media`; like Twilio it answers 307 to an unauthenticated storage URL
  (``media_redirect=False`` serves the bytes directly).

``lose_next_response()`` makes the next send be accepted and stored but its response lost: the
connection closes before anything is answered, as when a network path fails at the wrong moment.
With ``garbled=True`` the answer arrives but is not JSON (a proxy's error page, say).

Wrong credentials get 401 with error 20003, as from Twilio. Error bodies have Twilio's shape
``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import hmac
import json
import re
import secrets
import ssl
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx

from normalizer.sms import count_segments
from normalizer.twilio import compute_signature

from .http_server import DropConnection, HTTPServer, Request, Response

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "double-auth-token-0123456789abcdef"
API_VERSION = "2010-04-01"
_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{1,14}$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)(?P<rest>/.*)$")


def _error(status: int, code: int, message: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"Content-Type": "application/json"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return Response(status, json.dumps(body).encode(), headers)


def _json(status: int, payload: Mapping[str, Any]) -> Response:
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client a test makes: building one costs ~0.1 s."""
    return ssl.create_default_context()


def _rfc2822_now() -> str:
    return email.utils.format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))


class TwilioDouble:
    """Async context manager running the double on 127.0.0.1 (any free port).

    messages: form fields of every accepted send, in order; values are strings except
        ``MediaUrl``, which is a list when present.
    resources: the Message resources returned for them (same order), updated by status callbacks.
    attempts: number of POSTs to Messages.json, failed ones included (to count retries).
    callbacks: ``(message_sid, status, http_status_or_error)`` for every status callback sent.
    """

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        auto_status: Sequence[str] = (),
        media_redirect: bool = True,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.auto_status = tuple(auto_status)
        self.media_redirect = media_redirect
        self.messages: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.attempts = 0
        self.callbacks: list[tuple[str, str, int | str]] = []
        self.opted_out: set[str] = set()
        self._failures: list[list[Any]] = []  # [status, code, message, remaining]
        self._responses_to_lose = 0
        self._garble_lost = False
        self._media: dict[str, tuple[bytes, str]] = {}
        self._stored: dict[str, tuple[bytes, str]] = {}
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server = HTTPServer(self._handle)
        self._client: httpx.AsyncClient | None = None

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        await self._server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        await self._server.close()

    @property
    def base_url(self) -> str:
        """What ``GATEWAY_TWILIO_API_BASE`` should be set to."""
        return self._server.base_url

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    # ----------------------------------------------------------------- test controls

    def fail_next(self, status: int, code: int | None = None, message: str = "error", times: int = 1) -> None:
        """Answer the next ``times`` authenticated sends with this Twilio error instead."""
        self._failures.append([status, code, message, times])

    def lose_next_response(self, times: int = 1, *, garbled: bool = False) -> None:
        """Accept the next ``times`` sends but close the connection instead of answering (or,
        ``garbled``, answer 201 with a body that is not the Message resource)."""
        self._responses_to_lose += times
        self._garble_lost = garbled

    def opt_out(self, number: str) -> None:
        """Make sends to ``number`` fail with 21610, as after the recipient replied STOP."""
        self.opted_out.add(number)

    def add_media(
        self, path_suffix: str | None = None, data: bytes = b"", content_type: str = "image/jpeg"
    ) -> str:
        """Serve ``data`` at ``.../Messages/{path_suffix}`` (e.g. ``"MM.../Media/ME..."``); return its URL."""
        if path_suffix is None:
            path_suffix = f"MM{secrets.token_hex(16)}/Media/ME{secrets.token_hex(16)}"
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{path_suffix.lstrip('/')}"
        self._media[path] = (data, content_type)
        return self.base_url + path

    def sign(self, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
        """The X-Twilio-Signature Twilio would send for a webhook to ``url`` with ``params``."""
        return compute_signature(self.auth_token, url, params)

    async def wait_for_messages(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait (on an event, not by polling) until ``n`` sends were accepted; return the first ``n``."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.messages) >= n)
        except TimeoutError:
            raise TimeoutError(f"Twilio double: expected {n} messages, got {len(self.messages)}") from None
        return self.messages[:n]

    async def wait_for_callbacks(self, n: int, timeout: float = 5.0) -> list[tuple[str, str, int | str]]:
        """Wait until ``n`` status callbacks were sent (whatever their outcome)."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.callbacks) >= n)
        except TimeoutError:
            raise TimeoutError(f"Twilio double: expected {n} callbacks, got {len(self.callbacks)}") from None
        return self.callbacks[:n]

    async def send_status(self, sid: str, status: str, *, error_code: str | None = None) -> httpx.Response:
        """POST a signed status callback for message ``sid`` to its ``StatusCallback`` URL."""
        index = next((i for i, r in enumerate(self.resources) if r["sid"] == sid), None)
        if index is None:
            raise KeyError(f"no message {sid}")
        form, resource = self.messages[index], self.resources[index]
        url = form.get("StatusCallback")
        if not url:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        if status in ("failed", "undelivered") and error_code is None:
            error_code = "30003"
        resource.update(
            status=status, error_code=int(error_code) if error_code else None, date_updated=_rfc2822_now()
        )
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": resource["from"],
            "To": resource["to"],
            "MessagingServiceSid": resource["messaging_service_sid"],
            "ApiVersion": API_VERSION,
            "ErrorCode": error_code,
        }
        params = {k: v for k, v in params.items() if v}
        headers = {
            "X-Twilio-Signature": self.sign(url, params),
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, verify=shared_ssl_context())
        try:
            response = await self._client.post(url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            await self._record_callback(sid, status, type(exc).__name__)
            raise
        await self._record_callback(sid, status, response.status_code)
        return response

    # ----------------------------------------------------------------- HTTP

    async def _record_callback(self, sid: str, status: str, outcome: int | str) -> None:
        async with self._changed:
            self.callbacks.append((sid, status, outcome))
            self._changed.notify_all()

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, f"{self.account_sid}:{self.auth_token}".encode())

    async def _handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path in self._stored:
            data, content_type = self._stored[request.path]
            return Response(200, data, {"Content-Type": content_type})
        match = _ACCOUNT.match(request.path)
        if not match:
            return _error(404, 20404, "The requested resource was not found")
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        if match["sid"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        rest = match["rest"]
        if rest == "/Messages.json" and request.method == "POST":
            return await self._create(request)
        if rest == "/Messages.json" and request.method == "GET":
            return self._list(request)
        if request.method == "GET" and request.path in self._media:
            return self._serve_media(request.path)
        found = re.fullmatch(r"/Messages/([A-Za-z0-9]+)\.json", rest)
        if request.method == "GET" and found:
            for resource in self.resources:
                if resource["sid"] == found[1]:
                    return _json(200, resource)
        return _error(404, 20404, f"The requested resource {request.path} was not found")

    def _serve_media(self, path: str) -> Response:
        data, content_type = self._media[path]
        if not self.media_redirect:
            return Response(200, data, {"Content-Type": content_type})
        stored = f"/media-store/{secrets.token_urlsafe(16)}"  # like Twilio's pre-signed storage URL
        self._stored[stored] = (data, content_type)
        return Response(307, b"", {"Location": self.base_url + stored})

    async def _create(self, request: Request) -> Response:
        self.attempts += 1
        if self._failures:
            failure = self._failures[0]
            failure[3] -= 1
            if failure[3] <= 0:
                self._failures.pop(0)
            status, code, message = failure[0], failure[1], failure[2]
            return _error(status, code, message) if code is not None else Response(status, message.encode())
        form = {k: (v if k == "MediaUrl" else v[0]) for k, v in request.form().items()}
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not form.get("MediaUrl"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in self.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        resource = self._resource(form)
        async with self._changed:
            self.messages.append(form)
            self.resources.append(resource)
            self._changed.notify_all()
        if self.auto_status and form.get("StatusCallback"):
            task = asyncio.create_task(self._auto_callbacks(resource["sid"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._responses_to_lose:
            self._responses_to_lose -= 1
            if self._garble_lost:
                return Response(201, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
            raise DropConnection
        return _json(201, resource)

    def _list(self, request: Request) -> Response:
        query = parse_qs(urlsplit(request.target).query)
        to, sender = (query.get(name, [None])[0] for name in ("To", "From"))
        size = int(query.get("PageSize", ["50"])[0])
        found = [
            resource
            for resource in reversed(self.resources)  # most recent first, as Twilio lists them
            if (to is None or resource["to"] == to) and (sender is None or resource["from"] == sender)
        ][:size]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json?PageSize={size}&Page=0"
        return _json(
            200,
            {
                "messages": found,
                "start": 0,
                "end": max(len(found) - 1, 0),
                "page": 0,
                "page_size": size,
                "first_page_uri": uri,
                "previous_page_uri": None,
                "next_page_uri": None,
                "uri": uri,
            },
        )

    def _resource(self, form: Mapping[str, Any]) -> dict[str, Any]:
        media = form.get("MediaUrl") or []
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        service = form.get("MessagingServiceSid")
        now = _rfc2822_now()
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            # With a Messaging Service no sender is chosen yet: Twilio says 0 segments, "accepted".
            "num_segments": "0" if service else str(count_segments(form.get("Body", "")).segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
        }

    async def _auto_callbacks(self, sid: str) -> None:
        for status in self.auto_status:
            try:
                await self.send_status(sid, status)
            except httpx.HTTPError:
                return  # recorded in self.callbacks; the receiver is gone
