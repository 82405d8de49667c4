"""Real-world mail from ../shared/corpus/email delivered over SMTP: the stored text is right."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.store.models import Blob, Message
from tests.channels.email_driver import DOMAIN, EmailDriver, Envelope, email_gateway
from tests.normalizer.email_cases import CASES
from tests.support.paths import corpus_path

# Legacy Chinese charsets (GB2312 that is really GBK, X-GBK, GB18030 subjects, Big5 labelled
# us-ascii, Outlook zh-TW) and their clients' quote separators.
FILES = (
    "cjk_mailing_lists/outlook16_gb2312_traditional_separator_broken_char.eml",
    "cjk_mailing_lists/outlook_big5_daibiao_on_behalf.eml",
    "cjk_mailing_lists/coremail_163_gbk_re_re.eml",
    "cjk_mailing_lists/qqmail_gb18030_subject.eml",
    "cjk/enmime_big5_body_labelled_us-ascii.eml",
    "cjk/webklex_x-gbk_charset.eml",
)
SELECTED = [case for case in CASES if case.path in FILES]


@pytest.mark.corpus
async def test_corpus_mail_over_smtp_is_stored_correctly(sqlite_url: str) -> None:
    directory = corpus_path("email")
    assert len(SELECTED) == len(FILES)
    async with email_gateway(sqlite_url, None) as live:
        driver = EmailDriver(None)
        for case in SELECTED:
            raw = (directory / case.path).read_bytes()
            delivery = await driver.deliver(
                live, Envelope(raw, rcpt=(f"office@{DOMAIN}",), mail_options=("BODY=8BITMIME",))
            )
            assert delivery.outcome == 250 and delivery.inquiry_id is not None, case.path
            async with live.gateway.session_factory() as session:
                message = await session.get(Message, delivery.inquiry_id)
                source = await session.scalar(
                    select(Blob).where(Blob.message_id == delivery.inquiry_id, Blob.kind == "raw")
                )
            assert message is not None and source is not None and source.data is not None
            for snippet in case.text:
                assert snippet in message.text, f"{case.path}: {snippet!r} missing"
            for snippet in case.quoted:
                assert snippet not in message.text, f"{case.path}: quote {snippet!r} kept"
                assert snippet in message.extra["original_text"], f"{case.path}: quote {snippet!r} lost"
            if case.subject is not None:
                assert message.subject == case.subject, case.path
            if case.charset is not None:
                assert message.extra["charset"] == case.charset, case.path
            assert source.data.startswith(b"Return-Path: <citizen@example.org>\r\nReceived: from ")
