"""The shared, table-driven channel test harness.

Every channel's tests are mostly data: a table of :class:`InboundCase` (raw input the provider or
client sends ─► the outcome the sender sees and the inquiry that is stored) and a table of
:class:`OutboundCase` (a reply ─► what the provider or client receives). A channel supplies a
small :class:`ChannelDriver` that knows how to put raw input on the wire and how to observe what
goes out; :func:`check_inbound` and :func:`check_outbound` do the rest the same way for everyone.

The harness also fails a test when the gateway tries to reach a non-loopback address
(:func:`forbid_egress`) or when a secret or a citizen's address appears in the logs
(:func:`assert_no_secrets_logged`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from sqlalchemy import func, select

from gateway.store.models import Message
from tests.support.live import LiveGateway


@dataclass(frozen=True)
class InboundCase:
    """raw: what goes on the wire; outcome: what the sender gets back (channel-specific, e.g. an
    ``ack``/``error`` frame type or an HTTP status); stored: expected fields of the stored inquiry
    message, or ``None`` when nothing may be stored."""

    name: str
    raw: Any
    outcome: Any
    stored: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutboundCase:
    """reply: the reply handed to the channel (text, author, options); expect: fields the provider
    or client must receive."""

    name: str
    reply: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What a driver observed after sending raw input: the outcome and the inquiry id, if any."""

    outcome: Any
    inquiry_id: int | None = None


class ChannelDriver(Protocol):
    async def deliver(self, live: LiveGateway, raw: Any) -> Delivery: ...

    async def observe_send(self, live: LiveGateway, reply: dict[str, Any]) -> dict[str, Any]: ...


async def _inbound_count(live: LiveGateway) -> int:
    async with live.gateway.session_factory() as session:
        return int(
            await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
            or 0
        )


async def check_inbound(live: LiveGateway, driver: ChannelDriver, case: InboundCase) -> None:
    before = await _inbound_count(live)
    delivery = await driver.deliver(live, case.raw)
    assert delivery.outcome == case.outcome, f"{case.name}: outcome {delivery.outcome!r}"
    if case.stored is None:
        assert await _inbound_count(live) == before, f"{case.name}: bad input changed the database"
        return
    assert delivery.inquiry_id is not None, f"{case.name}: no inquiry id"
    async with live.gateway.session_factory() as session:
        message = await session.get(Message, delivery.inquiry_id)
    assert message is not None
    for key, expected in case.stored.items():
        assert getattr(message, key) == expected, f"{case.name}: stored {key}={getattr(message, key)!r}"


async def check_outbound(live: LiveGateway, driver: ChannelDriver, case: OutboundCase) -> None:
    received = await driver.observe_send(live, case.reply)
    for key, expected in case.expect.items():
        assert received.get(key) == expected, f"{case.name}: sent {key}={received.get(key)!r}"


def forbid_egress(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any connection to a non-loopback address fail the test loudly."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                pytest.fail(f"unexpected network egress to {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


def assert_no_secrets_logged(records: list[logging.LogRecord], secrets: list[str]) -> None:
    """Fail when any of ``secrets`` (tokens, passwords, citizens' addresses) reached a log line."""
    for record in records:
        line = record.getMessage() + (record.exc_text or "")
        for secret in secrets:
            assert secret not in line, f"secret or personal data logged by {record.name}: {line[:200]}"
