"""SMS through Twilio against a running gateway and the local Twilio REST double.

Covers the issue's "done means": one signed webhook → exactly one reply; forged → 403 and none;
duplicate MessageSid → none; a 500 is retried then delivered; 21610 stops further sends; long
Chinese answers are cut and linked; STOP/退订 then a question → no reply; plus status callbacks,
reverse-proxy signatures, storage outages, MMS media, keywords and abuse guards.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.store.db import create_engine
from gateway.store.models import Blob, Contact, Conversation, Message, OutboxItem
from normalizer.sms import count_segments
from tests.channels.harness import (
    InboundCase,
    OutboundCase,
    assert_no_secrets_logged,
    check_inbound,
    check_outbound,
    forbid_egress,
)
from tests.channels.twilio_driver import (
    CITIZEN,
    OUR_NUMBER,
    STATUS_PATH,
    TwilioDriver,
    Webhook,
    post_webhook,
    sms_form,
    twilio_gateway,
)
from tests.doubles.twilio_api import TwilioDouble
from tests.support.live import LiveGateway
from tests.support.paths import DEMO_KB

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
CORPUS_MISSING = "../shared/corpus not found (CI always has it beside the clone)"
QUESTION = "第一次办身份证需要什么材料"
UNKNOWN = "我家楼下的路灯坏了三天了，谁来修"


@pytest.fixture
async def tw() -> AsyncIterator[TwilioDouble]:
    async with TwilioDouble() as double:
        yield double


@pytest.fixture
async def live(sqlite_url: str, tw: TwilioDouble) -> AsyncIterator[LiveGateway]:
    async with twilio_gateway(sqlite_url, tw) as running:
        yield running


async def eventually(live: LiveGateway, check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds for outbox state, re-checking each time the outbox records an
    outcome (the counter is read before each check, so an outcome in between is not missed)."""
    outbox = live.gateway.outbox
    async with asyncio.timeout(timeout):
        while True:
            seen = outbox.outcomes_recorded
            if await check():
                return
            async with outbox.outcome:
                await outbox.outcome.wait_for(lambda seen=seen: outbox.outcomes_recorded > seen)


async def settle(live: LiveGateway) -> None:
    """Decide everything accepted and send everything due, so 'nothing more was sent' is final."""
    await live.gateway.pipeline.drain()
    await live.gateway.outbox.run_until_idle()
    await eventually(live, lambda: _no_rows(live, "sending"))


async def _no_rows(live: LiveGateway, status: str) -> bool:
    async with live.gateway.session_factory() as session:
        return (
            await session.scalar(select(OutboxItem.id).where(OutboxItem.status == status).limit(1))
        ) is None


async def outbox_rows(live: LiveGateway) -> list[OutboxItem]:
    async with live.gateway.session_factory() as session:
        return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


async def ask(live: LiveGateway, tw: TwilioDouble, body: str, sid: str, **extra: str) -> httpx.Response:
    return await post_webhook(live, tw.auth_token, Webhook(sms_form(body, sid, **extra)))


# ----------------------------------------------------------------- the shared harness tables


def _corpus_cases() -> list[Any]:
    folder = CORPUS / "twilio" / "payloads_courier"
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=CORPUS_MISSING), id="corpus")]
    cases = []
    for path in sorted(folder.glob("*.json")):
        payload = json.loads(path.read_text(encoding="utf-8"))
        params = {k: v for k, v in payload["params"].items()}
        if "status" in payload["id"].lower():
            # Status callbacks for messages this gateway never sent: accepted and ignored,
            # except an undefined status, which is refused.
            outcome = 400 if params.get("MessageStatus") == "huh" else 204
            cases.append(InboundCase(payload["id"], Webhook(params, path=STATUS_PATH), outcome))
            continue
        stored = {"channel": "sms", "direction": "in", "provider_message_id": params["MessageSid"]}
        stored["text"] = params.get("Body", "")
        cases.append(InboundCase(payload["id"], Webhook(params), 200, stored))
    return [pytest.param(case, id=case.name) for case in cases]


INBOUND_CASES = [
    InboundCase(
        "chinese question",
        Webhook(sms_form(QUESTION, "SM" + "1" * 32)),
        200,
        {"text": QUESTION, "language": "zh", "channel": "sms", "author": "citizen"},
    ),
    InboundCase(
        "local number without country code",
        Webhook(sms_form("社保卡丢了", "SM" + "2" * 32, sender="13800138000")),
        200,
        {"text": "社保卡丢了"},
    ),
    InboundCase("forged signature", Webhook(sms_form(QUESTION, "SM" + "3" * 32), signature="forged"), 403),
    InboundCase("missing signature", Webhook(sms_form(QUESTION, "SM" + "4" * 32), signature="missing"), 403),
    InboundCase(
        "signed for another URL",
        Webhook(sms_form(QUESTION, "SM" + "5" * 32), signed_url="http://evil.example/channels/twilio/sms"),
        403,
    ),
    InboundCase("no From", Webhook({"MessageSid": "SM" + "6" * 32, "Body": "hi"}), 400),
    InboundCase("From not a number", Webhook(sms_form("hi", "SM" + "7" * 32, sender="not-a-number")), 400),
    InboundCase("no MessageSid", Webhook({"From": CITIZEN, "Body": "hi"}), 400),
]


@pytest.mark.parametrize("case", INBOUND_CASES, ids=lambda c: c.name)
async def test_inbound(
    live: LiveGateway, tw: TwilioDouble, case: InboundCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_egress(monkeypatch)
    await check_inbound(live, TwilioDriver(tw), case)


@pytest.mark.parametrize("case", _corpus_cases())
async def test_inbound_corpus(
    live: LiveGateway, tw: TwilioDouble, case: InboundCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_egress(monkeypatch)  # corpus media URLs are relative ("cat.jpg"): never fetched
    await check_inbound(live, TwilioDriver(tw), case)


OUTBOUND_CASES = [
    OutboundCase(
        "bot answer",
        {"text": "请携带户口簿。"},
        {"To": CITIZEN, "From": OUR_NUMBER, "Body": "请携带户口簿。"},
    ),
    OutboundCase(
        "operator reply", {"text": "您好，已为您查询。", "author": "operator"}, {"Body": "您好，已为您查询。"}
    ),
    OutboundCase(
        "whatsapp conversation",
        {"text": "hello", "conversation_key": f"whatsapp:{CITIZEN}|whatsapp:{OUR_NUMBER}"},
        {"To": f"whatsapp:{CITIZEN}", "From": f"whatsapp:{OUR_NUMBER}"},
    ),
    OutboundCase(
        "over 1600 characters", {"text": "长" * 2000, "author": "operator"}, {"Body": "长" * 1599 + "…"}
    ),
]


@pytest.mark.parametrize("case", OUTBOUND_CASES, ids=lambda c: c.name)
async def test_outbound(live: LiveGateway, tw: TwilioDouble, case: OutboundCase) -> None:
    await check_outbound(live, TwilioDriver(tw), case)
    assert tw.messages[-1]["StatusCallback"] == live.gateway.settings.public_url + STATUS_PATH


# ----------------------------------------------------------------- done means


async def test_signed_webhook_gets_exactly_one_reply(
    database_url: str, tw: TwilioDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with twilio_gateway(database_url, tw) as running:
        response = await ask(running, tw, QUESTION, "SM" + "a" * 32)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        assert response.text.endswith("<Response/>")
        [sent] = await tw.wait_for_messages(1)
        await settle(running)
    assert len(tw.messages) == 1 and tw.attempts == 1
    assert sent["To"] == CITIZEN and "户口" in sent["Body"]
    assert count_segments(sent["Body"]).segments <= 3
    assert_no_secrets_logged(caplog.records, [CITIZEN, tw.auth_token, QUESTION])


async def test_forged_webhook_is_refused_and_sends_nothing(live: LiveGateway, tw: TwilioDouble) -> None:
    hook = Webhook(sms_form(QUESTION, "SM" + "b" * 32), signature="forged")
    assert (await post_webhook(live, tw.auth_token, hook)).status_code == 403
    await settle(live)
    assert tw.attempts == 0 and await outbox_rows(live) == []


async def test_duplicate_message_sid_gets_no_second_reply(database_url: str, tw: TwilioDouble) -> None:
    async with twilio_gateway(database_url, tw) as running:
        for _ in range(2):  # Twilio retrying a webhook it thinks failed
            assert (await ask(running, tw, QUESTION, "SM" + "c" * 32)).status_code == 200
        await tw.wait_for_messages(1)
        await settle(running)
        assert len(tw.messages) == 1 and len(await outbox_rows(running)) == 1


async def test_server_error_is_retried_then_delivered(
    live: LiveGateway, tw: TwilioDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.outbox.IDLE_RECHECK_SECONDS", 3600.0)  # only the retry's own wake-up counts
    tw.fail_next(500, 20500, "Internal Server Error")
    outbox = live.gateway.outbox
    await ask(live, tw, QUESTION, "SM" + "d" * 32)
    async with asyncio.timeout(10), outbox.outcome:
        await outbox.outcome.wait_for(lambda: outbox.outcomes_recorded >= 1)  # the failure, retry scheduled
    [sent] = await tw.wait_for_messages(1, timeout=30)
    await settle(live)
    [row] = await outbox_rows(live)
    assert tw.attempts == 2 and row.status == "sent" and row.attempts == 2
    assert row.provider_message_id == tw.resources[0]["sid"] and "户口" in sent["Body"]


@pytest.mark.parametrize("garbled", [False, True], ids=["dropped", "garbled"])
async def test_lost_response_is_not_sent_twice(
    live: LiveGateway, tw: TwilioDouble, monkeypatch: pytest.MonkeyPatch, garbled: bool
) -> None:
    """Twilio accepted the send but its answer never arrived (or was unreadable): the retry
    finds the message and sends nothing."""
    monkeypatch.setattr("gateway.outbox.IDLE_RECHECK_SECONDS", 3600.0)
    tw.lose_next_response(garbled=garbled)
    outbox = live.gateway.outbox
    await ask(live, tw, QUESTION, "SM" + "d" * 31 + "1")
    async with asyncio.timeout(30), outbox.outcome:
        await outbox.outcome.wait_for(lambda: outbox.outcomes_recorded >= 2)  # no answer, then found
    await settle(live)
    [row] = await outbox_rows(live)
    assert (row.status, row.attempts) == ("sent", 2)
    assert tw.attempts == 1 and len(tw.messages) == 1  # one POST: the retry only asked
    assert row.provider_message_id == tw.resources[0]["sid"]


async def test_same_answer_twice_is_sent_twice_despite_a_retry(
    live: LiveGateway, tw: TwilioDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier, recorded copy of an identical answer is not mistaken for this reply's try."""
    monkeypatch.setattr("gateway.outbox.IDLE_RECHECK_SECONDS", 3600.0)
    await ask(live, tw, QUESTION, "SM" + "d" * 31 + "2")
    [first] = await tw.wait_for_messages(1)
    await settle(live)
    tw.fail_next(500, 20500, "Internal Server Error")
    await ask(live, tw, QUESTION, "SM" + "d" * 31 + "3")  # the citizen asks again
    second = (await tw.wait_for_messages(2, timeout=30))[1]
    await settle(live)
    assert second["Body"] == first["Body"] and second["To"] == first["To"]
    rows = await outbox_rows(live)
    assert [(row.status, row.attempts) for row in rows] == [("sent", 1), ("sent", 2)]
    assert {row.provider_message_id for row in rows} == {r["sid"] for r in tw.resources}


async def _contact(live: LiveGateway, address: str = CITIZEN) -> Contact | None:
    async with live.gateway.session_factory() as session:
        return await session.scalar(
            select(Contact).where(Contact.channel == "sms", Contact.address == address)
        )


async def test_unsubscribed_21610_stops_further_sends(live: LiveGateway, tw: TwilioDouble) -> None:
    tw.opt_out(CITIZEN)  # the citizen replied STOP to Twilio directly
    await ask(live, tw, QUESTION, "SM" + "e" * 31 + "1")
    await eventually(live, lambda: _no_rows(live, "pending"))
    await settle(live)
    [row] = await outbox_rows(live)
    assert row.status == "dead" and row.last_error_code == "21610" and row.attempts == 1
    async with live.gateway.session_factory() as session:
        reply = await session.get(Message, row.message_id)
    assert reply is not None and reply.state == "failed" and reply.error_code == "21610"
    contact = await _contact(live)
    assert contact is not None and contact.opted_out_at is not None
    attempts = tw.attempts
    await ask(live, tw, "社保卡丢了怎么办", "SM" + "e" * 31 + "2")  # a new question: not answered
    await settle(live)
    assert tw.attempts == attempts and len(await outbox_rows(live)) == 1


async def test_long_chinese_answer_is_cut_and_linked(
    sqlite_url: str, tw: TwilioDouble, tmp_path: Path
) -> None:
    sentence = "办理不动产登记需携带身份证、户口簿和购房合同原件，并在受理窗口填写申请表<b>。"
    kb = tmp_path / "long.yaml"
    kb.write_text(
        "entries:\n  - id: property-registration\n    kind: service\n    title: 不动产登记\n"
        "    questions: [不动产登记要带什么材料]\n    keywords: [不动产登记]\n"
        f'    answer: "{sentence * 12}"\n',
        encoding="utf-8",
    )
    files = [str(p) for p in DEMO_KB] + [str(kb)]
    async with twilio_gateway(sqlite_url, tw, kb_import_on_start=files) as running:
        await ask(running, tw, "不动产登记要带什么材料", "SM" + "f" * 32)
        [sent] = await tw.wait_for_messages(1)
        link = f"{running.gateway.settings.public_url}/answers/property-registration"
        body = sent["Body"]
        assert body.endswith(" 详情: " + link)
        assert count_segments(body).segments == 3
        assert body.removesuffix(" 详情: " + link).endswith("。")  # cut at a sentence end
        async with httpx.AsyncClient() as http:
            page = await http.get(link)
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text and "viewport" in page.text
    assert page.text.count("购房合同原件") == 12 and "&lt;b&gt;" in page.text and "<b>" not in page.text


async def test_stop_then_question_gets_no_reply_until_start(live: LiveGateway, tw: TwilioDouble) -> None:
    await ask(live, tw, "退订", "SM" + "0" * 31 + "1")
    [confirmation] = await tw.wait_for_messages(1)
    assert confirmation["Body"] == live.gateway.settings.twilio_stop_text
    await ask(live, tw, QUESTION, "SM" + "0" * 31 + "2")
    await ask(live, tw, "STOP", "SM" + "0" * 31 + "3")  # a second STOP confirms again, nothing else
    await settle(live)
    assert [m["Body"] for m in tw.messages] == [live.gateway.settings.twilio_stop_text] * 2
    contact = await _contact(live)
    assert contact is not None and contact.opted_out_at is not None

    await ask(live, tw, "订阅", "SM" + "0" * 31 + "4")
    await ask(live, tw, QUESTION, "SM" + "0" * 31 + "5")
    messages = await tw.wait_for_messages(4)
    assert messages[2]["Body"] == live.gateway.settings.twilio_start_text and "户口" in messages[3]["Body"]


async def test_help_keyword_gets_help_text(live: LiveGateway, tw: TwilioDouble) -> None:
    await ask(live, tw, "帮助", "SM" + "9" * 32)
    [sent] = await tw.wait_for_messages(1)
    assert sent["Body"] == live.gateway.settings.twilio_help_text


async def test_clarify_is_a_numbered_menu_and_a_number_picks(live: LiveGateway, tw: TwilioDouble) -> None:
    await ask(live, tw, "户口", "SM" + "8" * 31 + "1")
    [menu] = await tw.wait_for_messages(1)
    lines = menu["Body"].split("\n")
    assert lines[0] == "回复序号：" and lines[1].startswith("1. ") and lines[2].startswith("2. ")
    await ask(live, tw, "2", "SM" + "8" * 31 + "2")
    answer = (await tw.wait_for_messages(2))[1]
    async with live.gateway.session_factory() as session:
        picked = await session.scalar(
            select(Message).where(Message.provider_message_id == "SM" + "8" * 31 + "2")
        )
    assert picked is not None and picked.decision == "answer"
    entry = live.gateway.responder.kb.entry(picked.entry_id)
    assert entry is not None and entry.title == lines[2].removeprefix("2. ")
    assert answer["Body"].startswith(entry.short_answer[:20])


async def test_queued_inquiry_gets_work_order_acknowledgement(live: LiveGateway, tw: TwilioDouble) -> None:
    await ask(live, tw, UNKNOWN, "SM" + "7" * 31 + "1")
    [ack] = await tw.wait_for_messages(1)
    async with live.gateway.session_factory() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.channel == "sms"))
    assert conversation is not None and conversation.status == "queued"
    assert f"工单号 {conversation.id}" in ack["Body"] and "24 小时" in ack["Body"]


async def _state(live: LiveGateway, sid: str) -> tuple[str, str | None]:
    async with live.gateway.session_factory() as session:
        message = await session.scalar(select(Message).where(Message.provider_message_id == sid))
    assert message is not None
    return message.state, message.error_code


async def test_status_callbacks_move_delivery_state(live: LiveGateway, tw: TwilioDouble) -> None:
    driver = TwilioDriver(tw)
    await check_outbound(live, driver, OutboundCase("first", {"text": "一"}))
    await check_outbound(live, driver, OutboundCase("second", {"text": "二"}))
    await settle(live)
    first, second = (r["sid"] for r in tw.resources)
    assert await _state(live, first) == ("sent", None)
    for status in ("sent", "delivered", "sent"):  # a late "sent" must not undo "delivered"
        assert (await tw.send_status(first, status)).status_code == 204
    assert await _state(live, first) == ("delivered", None)
    assert (await tw.send_status(second, "undelivered", error_code="30003")).status_code == 204
    assert await _state(live, second) == ("undelivered", "30003")


async def test_failed_21610_callback_opts_the_number_out(live: LiveGateway, tw: TwilioDouble) -> None:
    await check_outbound(live, TwilioDriver(tw), OutboundCase("one", {"text": "一"}))
    await settle(live)
    await tw.send_status(tw.resources[0]["sid"], "failed", error_code="21610")
    contact = await _contact(live)
    assert contact is not None and contact.opted_out_at is not None


async def test_signature_uses_public_url_behind_a_proxy(sqlite_url: str, tw: TwilioDouble) -> None:
    public = "https://sms.example.gov.cn/gw"
    async with twilio_gateway(sqlite_url, tw, public_url=public) as running:
        params = sms_form(QUESTION, "SM" + "6" * 31 + "1")
        ok = Webhook(params, signed_url=f"{public}/channels/twilio/sms", headers={"Host": "10.0.0.5:8080"})
        assert (await post_webhook(running, tw.auth_token, ok)).status_code == 200
        local = Webhook(
            sms_form(QUESTION, "SM" + "6" * 31 + "2"), signed_url=f"{running.base_url}/channels/twilio/sms"
        )
        assert (await post_webhook(running, tw.auth_token, local)).status_code == 403
        spoofed = Webhook(
            sms_form(QUESTION, "SM" + "6" * 31 + "3"),
            signed_url="http://evil.example/channels/twilio/sms",
            headers={"Host": "evil.example"},
        )
        assert (await post_webhook(running, tw.auth_token, spoofed)).status_code == 403


async def test_storage_down_answers_503_then_retry_succeeds(live: LiveGateway, tw: TwilioDouble) -> None:
    factory = live.gateway.session_factory
    original = factory.kw["bind"]
    broken = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    factory.configure(bind=broken)
    try:
        assert (await ask(live, tw, QUESTION, "SM" + "5" * 32)).status_code == 503
    finally:
        factory.configure(bind=original)
        await broken.dispose()
    assert (await ask(live, tw, QUESTION, "SM" + "5" * 32)).status_code == 200  # Twilio's retry
    await tw.wait_for_messages(1)


async def test_mms_media_fetched_with_caps_and_text_kept(sqlite_url: str, tw: TwilioDouble) -> None:
    photo = tw.add_media(data=b"\xff\xd8\xff" + b"j" * 100, content_type="image/jpeg")
    big = tw.add_media(data=b"\x89PNG" + b"p" * 5000, content_type="image/png")
    page = tw.add_media(data=b"<html>", content_type="text/html")
    gone = tw.base_url + "/2010-04-01/Accounts/" + tw.account_sid + "/Messages/MMx/Media/MEx"
    extra = {"NumMedia": "4", "MediaUrl0": photo, "MediaContentType0": "image/jpeg", "MediaUrl1": big,
             "MediaContentType1": "image/png", "MediaUrl2": page, "MediaContentType2": "text/html",
             "MediaUrl3": gone, "MediaContentType3": "image/jpeg"}  # fmt: skip
    async with twilio_gateway(sqlite_url, tw, twilio_media_max_bytes=1000) as running:
        assert (await ask(running, tw, "门口的井盖坏了", "MM" + "4" * 32, **extra)).status_code == 200
        async with running.gateway.session_factory() as session:
            message = await session.scalar(
                select(Message).where(Message.provider_message_id == "MM" + "4" * 32)
            )
            assert message is not None and message.text == "门口的井盖坏了"
            blobs = list(
                await session.scalars(select(Blob).where(Blob.message_id == message.id).order_by(Blob.id))
            )
    assert [b.data is not None for b in blobs] == [True, False, False, False]
    assert blobs[0].data == b"\xff\xd8\xff" + b"j" * 100 and blobs[0].content_type == "image/jpeg"
    assert "larger than 1000" in (blobs[1].note or "") and "not allowed" in (blobs[2].note or "")
    assert "HTTP 404" in (blobs[3].note or "")


async def test_rate_limit_and_loop_guard(sqlite_url: str, tw: TwilioDouble) -> None:
    async with twilio_gateway(sqlite_url, tw, twilio_rate_limit_per_hour=3, twilio_loop_repeats=2) as running:
        other = "+8613900139000"
        await ask(running, tw, "我正在开车，稍后回复您。", "SM" + "3" * 31 + "1", From=other)
        await ask(running, tw, "我正在开车，稍后回复您。", "SM" + "3" * 31 + "2", From=other)
        for n, question in enumerate([QUESTION, "社保卡丢了怎么办", "居住证怎么办", "营业执照怎么办理"]):
            await ask(running, tw, question, f"SM{'2' * 31}{n}")
        await settle(running)
        async with running.gateway.session_factory() as session:
            looped = await session.scalar(select(Conversation).where(Conversation.key.startswith(other)))
            guards = list(
                await session.scalars(
                    select(Message.extra).where(Message.direction == "in").order_by(Message.id)
                )
            )
    assert looped is not None and looped.status == "queued"  # a person takes over; the bot stops
    assert [g.get("guard") for g in guards] == [None, "loop", None, None, None, "rate_limited"]
    assert [m["To"] for m in tw.messages].count(CITIZEN) == 3 and [m["To"] for m in tw.messages].count(
        other
    ) == 1
