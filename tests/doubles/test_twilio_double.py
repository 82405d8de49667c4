"""The Twilio REST double itself: wire format, errors, auth, status callbacks, media."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from normalizer.twilio import classify_twilio_error, parse_status_callback, validate_signature

from .http_server import HTTPServer, Request, Response
from .twilio_api import TwilioDouble, shared_ssl_context

SID = "AC" + "f" * 32
TOKEN = "secret-token"


@pytest.fixture
async def tw() -> AsyncIterator[TwilioDouble]:
    async with TwilioDouble(account_sid=SID, auth_token=TOKEN) as double:
        yield double


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(auth=(SID, TOKEN), timeout=5.0, verify=shared_ssl_context()) as c:
        yield c


class Receiver:
    """Our side of a status callback: checks X-Twilio-Signature like the gateway will."""

    def __init__(self) -> None:
        self.server = HTTPServer(self.handle)
        self.forms: list[dict[str, list[str]]] = []
        self.valid: list[bool] = []

    @property
    def url(self) -> str:
        return self.server.base_url + "/channels/twilio/status?tenant=1"

    async def handle(self, request: Request) -> Response:
        form = request.form()
        self.forms.append(form)
        self.valid.append(
            validate_signature(TOKEN, self.url, form, request.headers.get("x-twilio-signature", ""))
        )
        return Response(204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.server.start()
    yield r
    await r.server.close()


async def test_send_returns_a_twilio_message_resource(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    body = "您好，" + "办理身份证需要户口簿原件。" * 11  # 146 UCS-2 units: 3 parts of 67
    response = await client.post(
        tw.messages_url, data={"To": "+8613812345678", "From": "+8610690000", "Body": body}
    )
    assert response.status_code == 201
    message = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message | {"sid": None, "date_created": None, "date_updated": None} == {
        "account_sid": SID,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": None,
        "date_sent": None,
        "date_updated": None,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+8610690000",
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "3",
        "price": None,
        "price_unit": "USD",
        "sid": None,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}/Media.json",
            "feedback": f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}/Feedback.json",
        },
        "to": "+8613812345678",
        "uri": f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}.json",
    }
    assert email.utils.parsedate_to_datetime(message["date_created"]).utcoffset() == dt.timedelta(0)
    [sent] = await tw.wait_for_messages(1, timeout=1)
    assert sent == {"To": "+8613812345678", "From": "+8610690000", "Body": body}
    fetched = await client.get(f"{tw.base_url}{message['uri']}")
    assert fetched.json() == message


async def test_messaging_service_and_mms(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    data = {
        "To": "whatsapp:+8613812345678",
        "MessagingServiceSid": "MG" + "1" * 32,
        "MediaUrl": ["https://x.example/a.jpg", "https://x.example/b.jpg"],
    }
    message = (await client.post(tw.messages_url, data=data)).json()
    assert message["sid"].startswith("MM") and message["status"] == "accepted"
    assert (message["num_media"], message["num_segments"], message["from"]) == ("2", "0", None)
    assert tw.messages[0]["MediaUrl"] == data["MediaUrl"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": "+8610690000", "Body": "x"}, 21604),
        ({"To": "13812345678", "From": "+8610690000", "Body": "x"}, 21211),
        ({"To": "+86 138", "From": "+8610690000", "Body": "x"}, 21211),
        ({"To": "+8613812345678", "Body": "x"}, 21603),
        ({"To": "+8613812345678", "From": "+8610690000"}, 21602),
        ({"To": "+8613812345678", "From": "+8610690000", "Body": "x" * 1601}, 21617),
    ],
)
async def test_validation_errors(
    tw: TwilioDouble, client: httpx.AsyncClient, data: dict[str, str], code: int
) -> None:
    response = await client.post(tw.messages_url, data=data)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"], body["more_info"]) == (
        code,
        400,
        f"https://www.twilio.com/docs/errors/{code}",
    )
    assert tw.messages == []
    assert classify_twilio_error(response.status_code, body)[:2] == (False, str(code))


async def test_opted_out_recipient_gets_21610(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    tw.opt_out("+8613812345678")
    response = await client.post(
        tw.messages_url, data={"To": "+8613812345678", "From": "+8610690000", "Body": "x"}
    )
    assert response.json()["code"] == 21610


async def test_wrong_credentials_get_20003(tw: TwilioDouble) -> None:
    async with httpx.AsyncClient(auth=(SID, "wrong"), verify=shared_ssl_context()) as bad:
        response = await bad.post(tw.messages_url, data={"To": "+8613812345678", "From": "+1", "Body": "x"})
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.headers["www-authenticate"].startswith("Basic")
    async with httpx.AsyncClient(verify=shared_ssl_context()) as anonymous:
        assert (
            await anonymous.get(f"{tw.base_url}/2010-04-01/Accounts/{SID}/Messages/SM1.json")
        ).status_code == 401
    assert tw.messages == [] and tw.attempts == 0


async def test_other_account_in_path_is_not_found(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    other = tw.messages_url.replace(SID, "AC" + "0" * 32)
    assert (await client.post(other, data={"To": "+8613812345678"})).json()["code"] == 20404


async def test_fail_next_injects_errors_in_order(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    tw.fail_next(500, None, "upstream broke")
    tw.fail_next(429, 20429, "Too Many Requests", times=2)
    tw.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    data = {"To": "+8613812345678", "From": "+8610690000", "Body": "x"}
    outcomes = []
    for _ in range(5):
        response = await client.post(tw.messages_url, data=data)
        body = response.json() if response.headers.get("content-type") == "application/json" else None
        outcomes.append((response.status_code, classify_twilio_error(response.status_code, body)[:2]))
    assert outcomes == [
        (500, (True, None)),
        (429, (True, "20429")),
        (429, (True, "20429")),
        (400, (False, "21610")),
        (201, (False, None)),
    ]
    assert tw.attempts == 5 and len(tw.messages) == 1


async def test_wait_for_messages_times_out_quickly(tw: TwilioDouble) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="expected 1 messages, got 0"):
        await tw.wait_for_messages(1, timeout=0.05)
    assert time.monotonic() - started < 1


async def test_wait_for_messages_wakes_on_send(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    waiter = asyncio.create_task(tw.wait_for_messages(2, timeout=2))
    for n in range(2):
        await client.post(
            tw.messages_url, data={"To": "+8613812345678", "From": "+8610690000", "Body": str(n)}
        )
    assert [m["Body"] for m in await waiter] == ["0", "1"]


async def test_status_callbacks_are_signed(
    tw: TwilioDouble, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    data = {"To": "+8613812345678", "From": "+8610690000", "Body": "x", "StatusCallback": receiver.url}
    sid = (await client.post(tw.messages_url, data=data)).json()["sid"]
    assert (await tw.send_status(sid, "sent")).status_code == 204
    assert (await tw.send_status(sid, "failed", error_code="30006")).status_code == 204
    assert receiver.valid == [True, True]
    updates = [parse_status_callback(form) for form in receiver.forms]
    assert [(u.message_sid, u.status, u.error_code) for u in updates] == [
        (sid, "sent", None),
        (sid, "failed", "30006"),
    ]
    assert receiver.forms[0]["AccountSid"] == [SID] and receiver.forms[0]["To"] == ["+8613812345678"]
    assert tw.resources[0]["status"] == "failed" and tw.resources[0]["error_code"] == 30006
    assert tw.callbacks == [(sid, "sent", 204), (sid, "failed", 204)]


async def test_automatic_status_callbacks(client: httpx.AsyncClient, receiver: Receiver) -> None:
    async with TwilioDouble(account_sid=SID, auth_token=TOKEN, auto_status=("sent", "delivered")) as tw:
        data = {"To": "+8613812345678", "From": "+8610690000", "Body": "x", "StatusCallback": receiver.url}
        sid = (await client.post(tw.messages_url, data=data)).json()["sid"]
        assert await tw.wait_for_callbacks(2, timeout=2) == [(sid, "sent", 204), (sid, "delivered", 204)]
    assert receiver.valid == [True, True]
    assert [f["MessageStatus"] for f in receiver.forms] == [["sent"], ["delivered"]]


async def test_callback_to_a_dead_receiver_is_recorded(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    dead = HTTPServer(lambda request: asyncio.sleep(0, Response(204)))
    await dead.start()
    url = dead.base_url + "/status"
    await dead.close()
    sid = (
        await client.post(
            tw.messages_url, data={"To": "+8613812345678", "From": "+1", "Body": "x", "StatusCallback": url}
        )
    ).json()["sid"]
    with pytest.raises(httpx.ConnectError):
        await tw.send_status(sid, "sent")
    assert tw.callbacks == [(sid, "sent", "ConnectError")]


@pytest.mark.parametrize("redirect", [True, False])
async def test_media_requires_auth_and_is_served(client: httpx.AsyncClient, redirect: bool) -> None:
    async with TwilioDouble(account_sid=SID, auth_token=TOKEN, media_redirect=redirect) as tw:
        url = tw.add_media("MM" + "1" * 32 + "/Media/ME" + "2" * 32, b"\xff\xd8jpeg", "image/jpeg")
        assert url.endswith(f"/2010-04-01/Accounts/{SID}/Messages/MM{'1' * 32}/Media/ME{'2' * 32}")
        async with httpx.AsyncClient(verify=shared_ssl_context()) as anonymous:
            assert (await anonymous.get(url)).status_code == 401
        response = await client.get(url, follow_redirects=True)
        assert (response.status_code, response.content, response.headers["content-type"]) == (
            200,
            b"\xff\xd8jpeg",
            "image/jpeg",
        )
        assert (len(response.history) == 1) is redirect


async def test_keep_alive_and_chunked_bodies(tw: TwilioDouble, client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"To=%2B8613812345678&", b"From=%2B8610690000&", b"Body=%E4%BD%A0%E5%A5%BD"):
            yield part

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    first = await client.post(tw.messages_url, content=chunks(), headers=headers)
    second = await client.post(tw.messages_url, data={"To": "+8613812345678", "From": "+1", "Body": "again"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert [m["Body"] for m in tw.messages] == ["你好", "again"]


async def test_start_and_stop_are_fast_and_release_the_port() -> None:
    started = time.monotonic()
    async with TwilioDouble() as tw, httpx.AsyncClient(verify=shared_ssl_context()) as c:
        await c.get(tw.base_url + "/")  # leaves a keep-alive connection open
        url = tw.base_url
    assert time.monotonic() - started < 1.0
    async with httpx.AsyncClient(verify=shared_ssl_context()) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(url + "/")


async def test_official_sdk_talks_to_the_double(tw: TwilioDouble) -> None:
    """The twilio SDK (its own HTTP client, run in a thread) sends through the double."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class Redirected(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(
                method, url.replace("https://api.twilio.com", tw.base_url), *args, **kwargs
            )

    sdk = Client(SID, TOKEN, http_client=Redirected())
    message = await asyncio.to_thread(
        sdk.messages.create, to="+8613812345678", from_="+8610690000", body="你好"
    )
    assert message.status == "queued" and message.num_segments == "1" and message.date_created.year >= 2024
    tw.fail_next(400, 21211, "Invalid 'To' Phone Number")
    with pytest.raises(TwilioRestException) as info:
        await asyncio.to_thread(sdk.messages.create, to="+8613812345678", from_="+8610690000", body="x")
    assert info.value.code == 21211 and info.value.status == 400
