"""E-mail over real sockets: the gateway's SMTP listener in, the relay double out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from gateway.store.models import Conversation, Message, OutboxItem
from tests.channels.email_driver import (
    DOMAIN,
    EmailDriver,
    Envelope,
    email_gateway,
    mail,
    smtp_port,
    smtp_session,
)
from tests.channels.harness import (
    InboundCase,
    OutboundCase,
    assert_no_secrets_logged,
    check_inbound,
    check_outbound,
    forbid_egress,
)
from tests.doubles.smtp_relay import SmtpRelayDouble, smtp_relay
from tests.support.live import LiveGateway, outbox_settled

MAX_BYTES = 4096

INBOUND_CASES = [
    InboundCase(
        "chinese question to an accepted domain",
        Envelope(mail("第一次办身份证需要什么材料？", subject="身份证")),
        250,
        {
            "text": "第一次办身份证需要什么材料？",
            "subject": "身份证",
            "channel": "email",
            "author": "citizen",
            "language": "zh",
        },
    ),
    InboundCase(
        "gbk body and encoded subject",
        Envelope(mail("社保卡丢了怎么补办", subject="社保卡", charset="gbk")),
        250,
        {"text": "社保卡丢了怎么补办", "subject": "社保卡"},
    ),
    InboundCase(
        "recipient domain in another case",
        Envelope(mail("How do I renew my passport?", subject="Passport"), rcpt=(f"Office@{DOMAIN.upper()}",)),
        250,
        {"language": "en", "subject": "Passport"},
    ),
    InboundCase(
        "smtputf8 address and raw utf-8 headers",
        Envelope(
            b"From: =?utf-8?b?5byg5LiJ?= <zhang@example.org>\r\nTo: office@gateway.test\r\n"
            b"Subject: \xe5\x8a\x9e\xe8\xaf\x81\r\nMessage-ID: <u8-1@example.org>\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            b"\xe5\x8a\x9e\xe8\xaf\x81\xe8\xa6\x81\xe5\xa4\x9a\xe4\xb9\x85\r\n",
            rcpt=("服务@gateway.test",),
            mail_options=("SMTPUTF8", "BODY=8BITMIME"),
        ),
        250,
        {"subject": "办证", "text": "办证要多久", "provider_message_id": "u8-1@example.org"},
    ),
    InboundCase(
        "another domain is refused (no open relay)", Envelope(mail("hi"), rcpt=("x@example.com",)), 550
    ),
    InboundCase(
        "declared SIZE over the limit", Envelope(mail("hi"), mail_options=(f"SIZE={MAX_BYTES * 10}",)), 552
    ),
    InboundCase("message over SIZE", Envelope(mail("长" * MAX_BYTES)), 552),
    InboundCase(
        "too many recipients",
        Envelope(mail("hi"), rcpt=(f"a@{DOMAIN}", f"b@{DOMAIN}", f"c@{DOMAIN}")),
        452,
    ),
]


@pytest.fixture
async def relay() -> AsyncIterator[SmtpRelayDouble]:
    async with smtp_relay() as double:
        yield double


@pytest.fixture
async def live(sqlite_url: str, relay: SmtpRelayDouble) -> AsyncIterator[LiveGateway]:
    async with email_gateway(
        sqlite_url, relay, smtp_max_message_bytes=MAX_BYTES, smtp_max_recipients=2
    ) as gw:
        yield gw


async def test_inbound_table(
    database_url: str, relay: SmtpRelayDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every inbound case on one gateway per database backend (a gateway per case costs ~1 s)."""
    async with email_gateway(
        database_url, relay, smtp_max_message_bytes=MAX_BYTES, smtp_max_recipients=2
    ) as gw:
        forbid_egress(monkeypatch)
        for case in INBOUND_CASES:
            await check_inbound(gw, EmailDriver(relay), case)


async def _outbox_rows(live: LiveGateway) -> list[OutboxItem]:
    async with live.gateway.session_factory() as session:
        return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


async def test_question_gets_one_threaded_reply(
    live: LiveGateway, relay: SmtpRelayDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    question = mail("第一次办身份证需要什么材料", subject="Re: 回复: 身份证", sender="li.lei@example.org")
    code, text = await smtp_session(smtp_port(live), Envelope(question, mail_from="li.lei@example.org"))
    assert code == 250 and "queued as" in text
    reply = (await relay.next_mail()).message
    citizen_id = question.split(b"Message-ID: <")[1].split(b">")[0].decode()

    async with live.gateway.session_factory() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.key == citizen_id))
        raw = await session.scalar(
            select(func.count()).select_from(Message).where(Message.provider_message_id == citizen_id)
        )
    assert conversation is not None and raw == 1
    assert reply["To"] == "li.lei@example.org"
    assert reply["Subject"] == f"Re: 身份证 [#{conversation.id}]"  # one Re:, never stacked
    assert reply["In-Reply-To"] == f"<{citizen_id}>"
    assert reply["References"] == f"<{citizen_id}>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert str(reply["Message-ID"]).endswith(f"@{DOMAIN}>")
    assert "户口" in reply.get_body(("plain",)).get_content()
    assert reply.get_content_type() == "multipart/alternative"
    rows = await _outbox_rows(live)
    assert len(rows) == 1 and rows[0].provider_message_id == str(reply["Message-ID"]).strip("<>")

    # The citizen answers our reply: threaded by In-Reply-To/References into the same conversation.
    follow = mail(
        "还需要照片吗",
        subject=str(reply["Subject"]),
        sender="li.lei@example.org",
        headers={
            "In-Reply-To": str(reply["Message-ID"]),
            "References": f"<{citizen_id}> {reply['Message-ID']}",
        },
    )
    # A client that dropped the threading headers: the work-order tag in the subject joins it.
    tagged = mail("我还想问一下", subject=f"新问题 [#{conversation.id}]", sender="li.lei@example.org")
    # A stranger using the same tag starts a conversation of their own.
    stranger = mail("我也想问", subject=f"[#{conversation.id}]", sender="mallory@example.net")
    for message in (follow, tagged, stranger):
        code, text = await smtp_session(smtp_port(live), Envelope(message))
        assert code == 250, text
    await live.gateway.pipeline.drain()
    async with live.gateway.session_factory() as session:
        ids = list(
            await session.scalars(
                select(Message.conversation_id).where(Message.direction == "in").order_by(Message.id)
            )
        )
    assert ids[:3] == [conversation.id] * 3 and ids[3] != conversation.id
    assert_no_secrets_logged(caplog.records, ["li.lei@example.org", "mallory", "第一次办身份证"])


async def test_resent_message_is_answered_once(live: LiveGateway, relay: SmtpRelayDouble) -> None:
    question = mail("社保卡丢了怎么办")
    first = await smtp_session(smtp_port(live), Envelope(question))
    second = await smtp_session(smtp_port(live), Envelope(question))  # the sender's MTA retried
    assert first[0] == second[0] == 250 and first[1] == second[1]  # same inquiry id
    await relay.next_mail()
    await live.gateway.pipeline.drain()
    assert len(await _outbox_rows(live)) == 1


def _dsn(original_id: str, *, action: str, status: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: service@gateway.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{action}-{original_id}>\r\nAuto-Submitted: auto-replied\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; citizen@example.org\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} mailbox unavailable\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: service@gateway.test\r\nTo: citizen@example.org\r\nMessage-ID: <{original_id}>\r\n"
        "--B--\r\n"
    ).encode()


async def test_auto_reply_and_bounce_get_no_answer(live: LiveGateway, relay: SmtpRelayDouble) -> None:
    await smtp_session(smtp_port(live), Envelope(mail("社保卡丢了怎么办")))
    ours = str((await relay.next_mail()).message["Message-ID"]).strip("<>")
    vacation = mail(
        "I am out of the office until Monday.",
        subject="Automatic reply: 咨询",
        headers={"Auto-Submitted": "auto-replied"},
    )
    delayed = Envelope(_dsn(ours, action="delayed", status="4.4.1"), mail_from="")
    failed = Envelope(_dsn(ours, action="failed", status="5.1.1"), mail_from="")
    for envelope in (Envelope(vacation), delayed):
        assert (await smtp_session(smtp_port(live), envelope))[0] == 250
    await live.gateway.pipeline.drain()
    async with live.gateway.session_factory() as session:
        sent = await session.scalar(select(Message).where(Message.provider_message_id == ours))
    assert sent is not None and sent.state == "sent"  # a delayed report is not a failure
    assert (await smtp_session(smtp_port(live), failed))[0] == 250
    await live.gateway.pipeline.drain()
    async with live.gateway.session_factory() as session:
        sent = await session.scalar(select(Message).where(Message.provider_message_id == ours))
        automatic = list(
            await session.scalars(
                select(Message).where(Message.direction == "in").order_by(Message.id).offset(1)
            )
        )
    assert sent is not None and (sent.state, sent.error_code) == ("failed", "5.1.1")
    assert "mailbox unavailable" in (sent.error_reason or "")
    assert [(m.decision, m.extra["directive"]) for m in automatic] == [("ignore", "ignore")] * 3
    assert len(await _outbox_rows(live)) == 1  # only the answer to the question
    assert relay.received.empty()


async def test_relay_4xx_is_retried_then_delivered(live: LiveGateway, relay: SmtpRelayDouble) -> None:
    relay.fail_next(451, "4.7.1 Greylisted, try again later", times=2)
    await smtp_session(smtp_port(live), Envelope(mail("社保卡丢了怎么办")))
    first = await relay.next_mail()  # the third attempt, after two backoffs
    [row] = await _outbox_rows(live)
    await outbox_settled(live, row.message_id)
    assert relay.refused == 2
    [row] = await _outbox_rows(live)
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.provider_message_id == str(first.message["Message-ID"]).strip("<>")


async def test_relay_5xx_is_dead_lettered_with_the_reply(live: LiveGateway, relay: SmtpRelayDouble) -> None:
    relay.fail_next(550, "5.1.1 <citizen@example.org>: Recipient address rejected: User unknown")
    await smtp_session(smtp_port(live), Envelope(mail("社保卡丢了怎么办")))
    await live.gateway.pipeline.drain()
    await live.gateway.outbox.run_until_idle()
    [row] = await _outbox_rows(live)
    assert (row.status, row.last_error_code) == ("dead", "550")
    assert "Recipient address rejected: User unknown" in (row.last_error or "")
    assert "citizen@example.org" not in (row.last_error or "")  # the address is personal data


async def test_relay_sessions_are_reused_and_replaced_after_a_hang_up(
    live: LiveGateway, relay: SmtpRelayDouble
) -> None:
    """Replies share one relay session; one the relay closed while idle is replaced, nothing lost."""
    questions = ["社保卡丢了怎么办", "第一次办身份证需要什么材料", "护照怎么办理"]
    for text in questions[:2]:
        await smtp_session(smtp_port(live), Envelope(mail(text)))
        await relay.next_mail()
        await live.gateway.outbox.run_until_idle()
    assert relay.connections == 1

    relay.hang_up()  # the relay's idle timeout
    await smtp_session(smtp_port(live), Envelope(mail(questions[2])))
    await relay.next_mail()
    await live.gateway.outbox.run_until_idle()
    rows = await _outbox_rows(live)
    assert [(row.status, row.attempts) for row in rows] == [("sent", 1)] * 3
    assert relay.connections == 2 and relay.received.empty()


async def test_without_relay_replies_wait_in_the_outbox(sqlite_url: str) -> None:
    async with email_gateway(sqlite_url, None) as gw:
        assert (await smtp_session(smtp_port(gw), Envelope(mail("社保卡丢了怎么办"))))[0] == 250
        await gw.gateway.pipeline.drain()
        await gw.gateway.outbox.run_until_idle()
        [row] = await _outbox_rows(gw)
    assert row.status == "pending" and "no relay configured" in (row.last_error or "")


OUTBOUND_CASES = [
    OutboundCase(
        "bot answer is threaded and marked automatic",
        {"text": "请携带户口簿。", "author": "bot", "metadata": {"subject": "Re: 回复: RE: 身份证"}},
        {
            "to": ["citizen@example.org"],
            "from": f"service@{DOMAIN}",
            "subject": "Re: 身份证 [#N]",
            "in_reply_to": "<ROOT>",
            "references": "<ROOT>",
            "auto_submitted": "auto-replied",
            "content_type": "multipart/alternative",
            "text": "请携带户口簿。",
            "message_id_domain": DOMAIN,
            "message_id_recorded": True,
        },
    ),
    OutboundCase(
        "operator reply is not marked automatic",
        {"text": "您好，已为您查询。", "author": "operator", "metadata": {"subject": "社保"}},
        {"auto_submitted": None, "subject": "Re: 社保 [#N]", "text": "您好，已为您查询。"},
    ),
    OutboundCase(
        "html alternative is escaped",
        {"text": "<script>alert(1)</script> & 5 > 3\n第二行", "author": "operator"},
        {
            "html": '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
            "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; 5 &gt; 3<br>\n第二行</p>\n</body></html>\n",
            "subject": "Re: [#N]",
        },
    ),
    OutboundCase(
        "answer carries the department's contact details",
        {
            "text": "请到窗口办理。",
            "metadata": {
                "decision": "answer",
                "department_id": "human-resources",
                "subject": "社保",
                "language": "zh",
            },
        },
        {
            "text": "请到窗口办理。\n\n-- \n临江市人力资源和社会保障局\n电话: 咨询 0999-55502200; 投诉 0999-55502201\n"
            "地址: 临江市人民路12号\n办公时间: 周一至周五 8:30-12:00，14:00-17:30（法定节假日除外）\n"
            "邮箱: renshe@linjiang.example"
        },
    ),
    OutboundCase(
        "a queue acknowledgement has no contact details",
        {"text": "已转人工。", "metadata": {"decision": "queue", "department_id": "human-resources"}},
        {"text": "已转人工。"},
    ),
]


async def test_outbound_table(live: LiveGateway, relay: SmtpRelayDouble) -> None:
    for case in OUTBOUND_CASES:
        await check_outbound(live, EmailDriver(relay), case)


async def test_connection_limit_and_idle_timeout(sqlite_url: str, relay: SmtpRelayDouble) -> None:
    async with email_gateway(sqlite_url, relay, smtp_max_connections=1, smtp_idle_timeout_seconds=0.3) as gw:
        first = await asyncio.open_connection("127.0.0.1", smtp_port(gw))
        assert (await first[0].readline()).startswith(b"220 ")
        second = await asyncio.open_connection("127.0.0.1", smtp_port(gw))
        assert (await second[0].readline()).startswith(b"421 ")  # over the connection limit
        assert await second[0].read() == b""
        # The idle first client is told 421 and disconnected when its idle time is up.
        assert (await asyncio.wait_for(first[0].readline(), 5)).startswith(b"421 ")
        for _, writer in (first, second):
            writer.close()
