"""E-mail from an existing mailbox: a real Dovecot started by the test, the gateway polling it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aioimaplib
from sqlalchemy import func, select

from channels.email import EmailChannel
from gateway.store.models import MailboxCursor, Message, OutboxItem
from tests.channels.email_driver import email_gateway, mail
from tests.doubles.smtp_relay import smtp_relay
from tests.support.dovecot import Dovecot, dovecot_server
from tests.support.live import LiveGateway


@asynccontextmanager
async def imap(dovecot: Dovecot) -> AsyncIterator[aioimaplib.IMAP4]:
    client = aioimaplib.IMAP4(host=dovecot.host, port=dovecot.port, timeout=5)
    await client.wait_hello_from_server()
    assert (await client.login(dovecot.user, dovecot.password)).result == "OK"
    try:
        yield client
    finally:
        await client.logout()


async def append(dovecot: Dovecot, raw: bytes) -> None:
    async with imap(dovecot) as client:
        assert (await client.append(raw, mailbox="INBOX")).result == "OK"


async def folder_state(dovecot: Dovecot, folder: str) -> list[tuple[str, bool]]:
    """(Message-ID, seen) of every message in ``folder``."""
    async with imap(dovecot) as client:
        assert (await client.select(folder)).result == "OK"
        fetched = await client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    state = []
    lines = fetched.lines
    for i, line in enumerate(lines):
        if isinstance(line, bytes) and b"FETCH" in line and i + 1 < len(lines):
            match = re.search(rb"<([^>]+)>", bytes(lines[i + 1]))
            state.append((match.group(1).decode() if match else "", b"\\Seen" in line))
    return state


async def handled(live: LiveGateway, count: int) -> None:
    """Wait until the poller has committed and flagged/moved ``count`` messages."""
    channel = live.gateway.channels["email"]
    assert isinstance(channel, EmailChannel)
    poller = channel.pollers[0]
    async with poller.progress:
        await asyncio.wait_for(poller.progress.wait_for(lambda: poller.handled >= count), 15)


def message_id(raw: bytes) -> str:
    return raw.split(b"Message-ID: <")[1].split(b">")[0].decode()


async def test_mailbox_answered_once_across_restart(database_url: str) -> None:
    first, second, third = (
        mail(t, sender="wang@example.org")
        for t in ("社保卡丢了怎么办", "身份证过期了怎么换", "营业执照怎么办理")
    )
    async with dovecot_server() as dovecot, smtp_relay() as relay:
        await append(dovecot, first)
        async with email_gateway(database_url, relay, smtp_port=0, imap_url=[dovecot.url()]) as live:
            reply = (await relay.next_mail()).message
            assert reply["In-Reply-To"] == f"<{message_id(first)}>"
            await append(dovecot, second)  # arrives while the gateway is in IDLE
            assert (await relay.next_mail()).message["In-Reply-To"] == f"<{message_id(second)}>"
            await handled(live, 2)
        assert await folder_state(dovecot, "INBOX") == [(message_id(first), True), (message_id(second), True)]

        await append(dovecot, third)
        async with email_gateway(database_url, relay, smtp_port=0, imap_url=[dovecot.url()]) as live:
            assert (await relay.next_mail()).message["In-Reply-To"] == f"<{message_id(third)}>"
            await handled(live, 1)
            await live.gateway.pipeline.drain()
            async with live.gateway.session_factory() as session:
                answers = await session.scalar(select(func.count()).select_from(OutboxItem))
                inbound = await session.scalar(
                    select(func.count()).select_from(Message).where(Message.direction == "in")
                )
                cursor = await session.scalar(select(MailboxCursor))
        assert (answers, inbound) == (3, 3)  # nothing read or answered twice after the restart
        assert relay.received.empty()
        assert cursor is not None and cursor.last_uid == 3 and cursor.uidvalidity > 0
        assert dovecot.password not in cursor.mailbox


async def test_mailbox_messages_are_moved_after_commit(sqlite_url: str) -> None:
    question = mail("社保卡丢了怎么办")
    async with dovecot_server() as dovecot, smtp_relay() as relay:
        await append(dovecot, question)
        async with email_gateway(
            sqlite_url, relay, smtp_port=0, imap_url=[dovecot.url()], imap_move_to="Processed"
        ) as live:
            await relay.next_mail()
            await handled(live, 1)
            async with live.gateway.session_factory() as session:
                stored = await session.scalar(
                    select(Message).where(Message.provider_message_id == message_id(question))
                )
        assert stored is not None and stored.extra["received_via"] == "imap"
        assert await folder_state(dovecot, "INBOX") == []
        assert await folder_state(dovecot, "Processed") == [(message_id(question), True)]


async def test_unreachable_mailbox_is_retried_without_stopping_the_gateway(sqlite_url: str) -> None:
    from tests.support.dovecot import free_port

    url = f"imap://desk:pw@127.0.0.1:{free_port()}/INBOX"  # nothing listens there
    async with smtp_relay() as relay, email_gateway(sqlite_url, relay, smtp_port=0, imap_url=[url]) as live:
        channel = live.gateway.channels["email"]
        assert isinstance(channel, EmailChannel)
        task = channel._tasks[0]
        assert not task.done()  # the supervisor keeps trying with backoff
    assert task.cancelled()  # and shutdown cancels it cleanly
