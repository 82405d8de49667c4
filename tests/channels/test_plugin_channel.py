"""docs/adding-a-channel.md, proved: a plugin channel loaded by dotted path runs through the harness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from channels.registry import load_channel_class
from gateway.errors import ConfigError
from gateway.replies import enqueue_reply
from gateway.store.upsert import get_or_create_contact, get_or_create_conversation
from tests.channels.echo_plugin import EchoChannel
from tests.channels.harness import (
    Delivery,
    InboundCase,
    OutboundCase,
    check_inbound,
    check_outbound,
    forbid_egress,
)
from tests.support.live import LiveGateway, live_gateway, settings_for_test

PLUGIN = "tests.channels.echo_plugin:EchoChannel"


@pytest.fixture
async def echo_live(sqlite_url: str) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings_for_test(sqlite_url, channels_plugins=[PLUGIN])) as live:
        yield live


class EchoDriver:
    async def deliver(self, live: LiveGateway, raw: Any) -> Delivery:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            response = await http.post("/channels/echo/in", json=raw)
        return Delivery(
            response.status_code, response.json().get("inquiry_id") if response.is_success else None
        )

    async def observe_send(self, live: LiveGateway, reply: dict[str, Any]) -> dict[str, Any]:
        async with live.gateway.session_factory() as session, session.begin():
            contact = await get_or_create_contact(session, "echo", "carol")
            conversation = await get_or_create_conversation(session, "echo", "carol", contact.id)
            enqueue_reply(
                session, conversation, reply["text"], author=reply.get("author", "bot"), recipient="carol"
            )
        live.gateway.outbox.notify()
        channel = live.gateway.channels["echo"]
        assert isinstance(channel, EchoChannel)
        sent = await asyncio.wait_for(channel.sent.get(), 10)
        return {"recipient": sent.recipient, "text": sent.text, "author": sent.author}


INBOUND = [
    InboundCase(
        "question",
        {"id": "e1", "from": "alice", "text": " 营业执照怎么办理 "},
        200,
        {"text": "营业执照怎么办理", "channel": "echo"},
    ),
    InboundCase("missing id", {"from": "alice", "text": "hi"}, 400),
    InboundCase("empty text", {"id": "e2", "from": "alice", "text": "\u200b "}, 400),
]


OUTBOUND = [
    OutboundCase(
        "operator reply",
        {"text": "您好", "author": "operator"},
        {"recipient": "carol", "text": "您好", "author": "operator"},
    ),
]


@pytest.mark.parametrize("case", OUTBOUND, ids=lambda c: c.name)
async def test_plugin_outbound(echo_live: LiveGateway, case: OutboundCase) -> None:
    await check_outbound(echo_live, EchoDriver(), case)


@pytest.mark.parametrize("case", INBOUND, ids=lambda c: c.name)
async def test_plugin_inbound(
    echo_live: LiveGateway, case: InboundCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_egress(monkeypatch)
    await check_inbound(echo_live, EchoDriver(), case)


async def test_plugin_reply_goes_back_over_the_plugin(echo_live: LiveGateway) -> None:
    channel = echo_live.gateway.channels["echo"]
    assert isinstance(channel, EchoChannel)
    delivery = await EchoDriver().deliver(echo_live, {"id": "e9", "from": "bob", "text": "营业执照怎么办理"})
    sent = await asyncio.wait_for(channel.sent.get(), 10)
    assert sent.channel == "echo" and sent.recipient == "bob" and sent.inquiry_id == delivery.inquiry_id
    duplicate = await EchoDriver().deliver(echo_live, {"id": "e9", "from": "bob", "text": "营业执照怎么办理"})
    assert duplicate.inquiry_id == delivery.inquiry_id


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.channels.echo_plugin:Nope", "not a subclass"),
        ("no.such.module:Channel", "cannot import"),
        ("justaname", "dotted path"),
        ("gateway.settings:Settings", "not a subclass"),
    ],
)
def test_bad_plugin_path_names_the_setting(path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_channel_class(path)
    assert "channels_plugins" in str(error.value)
