"""The outbox against a real database: retries, dead letters, crash recovery, concurrent workers."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select, update

from gateway import auth
from gateway.outbox import OutboxWorker
from gateway.replies import enqueue_reply
from gateway.retry import backoff_delay
from gateway.runtime import Gateway
from gateway.store.models import Message, OutboxItem, User, utcnow
from gateway.store.upsert import get_or_create_contact, get_or_create_conversation
from tests.channels.flaky_plugin import FlakyChannel
from tests.support.live import live_gateway, settings_for_test

PLUGIN = "tests.channels.flaky_plugin:FlakyChannel"


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[Gateway]:
    settings = settings_for_test(database_url, channels_plugins=[PLUGIN], outbox_max_attempts=3,
                                 kb_import_on_start=[])
    gateway = await Gateway.open(settings)
    yield gateway
    await gateway.aclose()


def flaky(gateway: Gateway) -> FlakyChannel:
    channel = gateway.channels["flaky"]
    assert isinstance(channel, FlakyChannel)
    return channel


async def write_reply(gateway: Gateway, recipient: str, text: str = "hello", key: str | None = None) -> int:
    async with gateway.session_factory() as session, session.begin():
        contact = await get_or_create_contact(session, "flaky", recipient)
        conversation = await get_or_create_conversation(session, "flaky", recipient, contact.id)
        message = enqueue_reply(session, conversation, text, author="operator", recipient=recipient,
                                      idempotency_key=key)
    return message.id


async def outbox_row(gateway: Gateway, message_id: int) -> OutboxItem:
    async with gateway.session_factory() as session:
        row = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    assert row is not None
    return row


async def send_due_until_settled(gateway: Gateway, message_id: int) -> OutboxItem:
    """Run the worker's claim/send cycle until the row is sent or dead (retries fall due quickly)."""
    for _ in range(50):
        await gateway.outbox.run_until_idle()
        row = await outbox_row(gateway, message_id)
        if row.status in ("sent", "dead"):
            return row
        await asyncio.wait_for(_wake_when_due(row), 5)
    raise AssertionError("outbox row never settled")


async def _wake_when_due(row: OutboxItem) -> None:
    # The backoff in tests is at most 0.2 s; waiting for it is waiting for an event (the due time).
    delay = max(0.0, (row.next_attempt_at - utcnow()).total_seconds())
    await asyncio.sleep(delay)


async def test_retryable_failures_are_retried_then_sent(gateway: Gateway) -> None:
    flaky(gateway).retryable_failures["+1"] = 2
    message_id = await write_reply(gateway, "+1")
    row = await send_due_until_settled(gateway, message_id)
    assert row.status == "sent" and row.attempts == 3 and row.provider_message_id.startswith("flaky-")
    assert [m.recipient for m in flaky(gateway).delivered] == ["+1"]
    async with gateway.session_factory() as session:
        assert (await session.get(Message, message_id)).state == "sent"


async def test_permanent_failure_is_dead_lettered_at_once_and_can_be_retried(database_url: str) -> None:
    settings = settings_for_test(database_url, channels_plugins=[PLUGIN], kb_import_on_start=[])
    async with live_gateway(settings) as live:
        gateway = live.gateway
        flaky(gateway).permanent.add("+2")
        message_id = await write_reply(gateway, "+2")
        gateway.outbox.notify()
        outbox = gateway.outbox
        async with outbox.outcome:
            await asyncio.wait_for(outbox.outcome.wait_for(lambda: outbox.outcomes_recorded >= 1), 10)
        async with gateway.session_factory() as session, session.begin():
            session.add(User(name="root", role="admin", password_hash=auth.hash_password("pw")))
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            token = (await http.post("/api/v1/auth/login", json={"name": "root", "password": "pw"})).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            dead = (await http.get("/api/v1/outbox?status=dead", headers=headers)).json()
            assert [(d["message_id"], d["attempts"], d["last_error_code"]) for d in dead] == [(message_id, 1, "550")]
            async with gateway.session_factory() as session:
                failed = await session.get(Message, message_id)
            assert failed.state == "failed" and failed.error_code == "550"

            flaky(gateway).permanent.discard("+2")
            retried = await http.post(f"/api/v1/outbox/{dead[0]['id']}/retry", headers=headers)
            assert retried.status_code == 200
            async with flaky(gateway).changed:
                await asyncio.wait_for(flaky(gateway).changed.wait_for(lambda: flaky(gateway).delivered), 10)
            assert (await http.post(f"/api/v1/outbox/{dead[0]['id']}/retry", headers=headers)).status_code == 409


async def test_gives_up_after_max_attempts(gateway: Gateway) -> None:
    flaky(gateway).retryable_failures["+3"] = 99
    message_id = await write_reply(gateway, "+3")
    row = await send_due_until_settled(gateway, message_id)
    assert row.status == "dead" and row.attempts == 3 and row.last_error_code == "503"


async def test_expired_claim_of_a_dead_worker_is_sent_once(gateway: Gateway) -> None:
    message_id = await write_reply(gateway, "+4")
    async with gateway.session_factory() as session, session.begin():
        await session.execute(update(OutboxItem).where(OutboxItem.message_id == message_id).values(
            status="sending", claimed_by="worker-that-died", attempts=1,
            lease_until=utcnow() + dt.timedelta(hours=1)))
    assert await gateway.outbox.liveness.release_dead_claims() == 1
    await gateway.outbox.run_until_idle()
    await gateway.outbox.run_until_idle()
    assert [m.recipient for m in flaky(gateway).delivered] == ["+4"]
    assert (await outbox_row(gateway, message_id)).status == "sent"


async def test_two_workers_never_send_the_same_row_twice(gateway: Gateway) -> None:
    ids = [await write_reply(gateway, f"+5{n:03d}") for n in range(40)]
    second = OutboxWorker(gateway.settings, gateway.engine, gateway.session_factory, lambda: gateway.channels,
                          gateway.metrics)
    await asyncio.gather(gateway.outbox.run_until_idle(), second.run_until_idle(), gateway.outbox.run_until_idle())
    delivered = [m.message_id for m in flaky(gateway).delivered]
    assert sorted(delivered) == sorted(ids)  # every row once, none twice
    async with gateway.session_factory() as session:
        rows = list(await session.scalars(select(OutboxItem)))
        states = set(await session.scalars(select(Message.state).where(Message.id.in_(ids))))
    assert {row.status for row in rows} == {"sent"} and all(row.attempts == 1 for row in rows)
    assert states == {"sent"}


async def test_idempotency_key_refuses_a_second_copy(gateway: Gateway) -> None:
    from sqlalchemy.exc import IntegrityError

    await write_reply(gateway, "+6", key="same-key")
    with pytest.raises(IntegrityError):
        await write_reply(gateway, "+6", key="same-key")


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 2.0, 60.0, rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        bound = min(60.0, 2.0 * 2 ** (n - 1))
        assert bound / 2 <= delay <= bound
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder


async def test_row_committed_by_another_process_wakes_the_worker(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: NOTIFY on commit wakes a worker in another process; no polling involved."""
    from pathlib import Path

    from tests.support.databases import fresh_database

    monkeypatch.setattr("gateway.outbox.IDLE_RECHECK_SECONDS", 3600.0)  # the timer cannot be what wakes it
    async with fresh_database("postgresql", Path(str(tmp_path))) as url:
        settings = settings_for_test(url, channels_plugins=[PLUGIN], kb_import_on_start=[])
        writer = await Gateway.open(settings)  # stands in for another process: its own engine and pool
        async with live_gateway(settings) as live:
            await asyncio.wait_for(live.gateway.outbox.idle.wait(), 30)  # asleep, nothing due
            await write_reply(writer, "+7")  # committed by the other engine: only NOTIFY can tell
            channel = flaky(live.gateway)
            async with channel.changed:
                await asyncio.wait_for(channel.changed.wait_for(lambda: channel.delivered), 30)
            assert [m.recipient for m in channel.delivered] == ["+7"]
        await writer.aclose()
