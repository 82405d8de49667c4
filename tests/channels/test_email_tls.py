"""The e-mail channel's TLS over real loopback sockets: STARTTLS on the listener, a STARTTLS or
implicit-TLS relay, an imaps mailbox on a real Dovecot.

One throwaway CA signs the servers' certificate. The gateway verifies certificates as in
production (``ssl.create_default_context``: chain and host name); the tests that expect success
make it trust the CA through ``SSL_CERT_FILE``, and the same setups without that prove the
verification is really on: nothing is sent to, or read from, a server it cannot authenticate.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from channels.email import EmailChannel
from gateway.errors import ConfigError
from gateway.store.models import Blob, Message, OutboxItem
from tests.channels.email_driver import DOMAIN, email_gateway, mail, smtp_port
from tests.channels.test_email_imap import folder_state, handled, message_id
from tests.doubles.smtp_relay import SmtpRelayDouble, smtp_relay
from tests.support.certs import Certificates, make_certificates
from tests.support.dovecot import dovecot_server
from tests.support.live import LiveGateway, outbox_settled

TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}
_QUEUED_AS = re.compile(r"queued as (\d+)")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def trust_test_ca(certs: Certificates, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the default trust store (the one production code uses) trust the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_cert))


@pytest.fixture
def default_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own trust store, which has never heard of the test CA."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


async def _stored(live: LiveGateway, inquiry_id: int) -> tuple[Message, bytes]:
    async with live.gateway.session_factory() as session:
        message = await session.get(Message, inquiry_id)
        raw = await session.scalar(select(Blob).where(Blob.message_id == inquiry_id, Blob.kind == "raw"))
    assert message is not None and raw is not None and raw.data is not None
    return message, raw.data


async def _send(client: aiosmtplib.SMTP, question: bytes) -> int:
    """MAIL, RCPT, DATA on an open session; the inquiry id from the ``250 ... queued as N``."""
    await client.mail("citizen@example.org")
    await client.rcpt(f"office@{DOMAIN}")
    response = await client.data(question)
    match = _QUEUED_AS.search(response.message)
    assert response.code == 250 and match is not None, response
    return int(match.group(1))


# --- inbound: the SMTP listener -------------------------------------------------------------


async def test_listener_offers_starttls_and_takes_mail_over_it(sqlite_url: str, certs: Certificates) -> None:
    question = mail("第一次办身份证需要什么材料", subject="身份证")
    async with (
        smtp_relay() as relay,
        email_gateway(
            sqlite_url, relay, smtp_tls_cert=str(certs.server_cert), smtp_tls_key=str(certs.server_key)
        ) as live,
    ):
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=smtp_port(live),
            timeout=10,
            start_tls=False,  # by hand below, to look at EHLO before and after
            tls_context=certs.client_context(),  # verifies the listener's certificate against the CA
        )
        await client.connect()
        try:
            await client.ehlo()
            assert client.supports_extension("starttls")
            assert (await client.starttls()).code == 220
            ssl_object = client.get_transport_info("ssl_object")
            assert ssl_object is not None and ssl_object.version() in TLS_VERSIONS
            await client.ehlo()  # RFC 3207 4.2: the session starts afresh; STARTTLS is not offered twice
            assert not client.supports_extension("starttls") and client.supports_extension("size")
            inquiry_id = await _send(client, question)
        finally:
            await client.quit()
        message, raw = await _stored(live, inquiry_id)
        assert (message.channel, message.direction, message.subject) == ("email", "in", "身份证")
        assert "第一次办身份证需要什么材料" in message.text
        assert re.search(rb"\r\n\tby gateway\.test with ESMTPS id ", raw)  # the trace records the TLS
        reply = (await relay.next_mail()).message  # and the inquiry is answered like any other
        assert reply["In-Reply-To"] == f"<{message_id(question)}>"


async def test_listener_without_certificate_does_not_offer_starttls(sqlite_url: str) -> None:
    async with email_gateway(sqlite_url, None) as live:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(live), timeout=10, start_tls=False)
        await client.connect()
        try:
            await client.ehlo()
            assert not client.supports_extension("starttls")
            refused = await client.execute_command(b"STARTTLS")  # asked anyway: refused, session goes on
            assert (refused.code, refused.message) == (454, "TLS not available")
            assert client.get_transport_info("ssl_object") is None
            inquiry_id = await _send(client, mail("社保卡丢了怎么办"))
        finally:
            await client.quit()
        _, raw = await _stored(live, inquiry_id)
        assert re.search(rb"\r\n\tby gateway\.test with ESMTP id ", raw)


@pytest.mark.parametrize(
    ("which", "key"),
    [
        ("missing certificate", "smtp_tls_cert"),
        ("missing key", "smtp_tls_key"),
        ("certificate that is not PEM", "smtp_tls_cert"),
        ("certificate without key", "smtp_tls_cert"),
    ],
)
async def test_unusable_certificate_stops_start_up_naming_the_key(
    sqlite_url: str, certs: Certificates, tmp_path: Path, which: str, key: str
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cert, tls_key = {
        "missing certificate": (str(tmp_path / "nope.pem"), str(certs.server_key)),
        "missing key": (str(certs.server_cert), str(tmp_path / "nope.key")),
        "certificate that is not PEM": (str(garbage), str(certs.server_key)),
        "certificate without key": (str(certs.server_cert), None),
    }[which]
    with pytest.raises(ConfigError) as error:
        async with email_gateway(sqlite_url, None, smtp_tls_cert=cert, smtp_tls_key=tls_key):
            pass
    assert error.value.key == key
    assert str(error.value).startswith(f"{key}: ")


# --- outbound: replies through a TLS relay -------------------------------------------------------


@pytest.fixture(params=["starttls", "implicit"])
async def tls_relay(request: pytest.FixtureRequest, certs: Certificates) -> AsyncIterator[SmtpRelayDouble]:
    """``smtp://...?starttls=true`` (STARTTLS required) or ``smtps://`` (implicit TLS)."""
    async with smtp_relay(certs.server_context(), implicit=request.param == "implicit") as relay:
        yield relay


async def _outbox_row(live: LiveGateway) -> OutboxItem:
    async with live.gateway.session_factory() as session:
        [row] = list(await session.scalars(select(OutboxItem)))
    return row


async def test_reply_goes_out_encrypted_through_the_relay(
    sqlite_url: str, tls_relay: SmtpRelayDouble, trust_test_ca: None
) -> None:
    question = mail("社保卡丢了怎么办")
    async with email_gateway(sqlite_url, tls_relay) as live:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(live), timeout=10, start_tls=False)
        async with client:
            await _send(client, question)
        relayed = await tls_relay.next_mail()
        row = await outbox_settled(live, (await _outbox_row(live)).message_id)
    assert relayed.tls_version in TLS_VERSIONS  # the relay saw the session encrypted
    assert relayed.message["In-Reply-To"] == f"<{message_id(question)}>"
    plain = relayed.message.get_body(("plain",))
    assert plain is not None and "社保卡" in plain.get_content()
    assert (row.status, row.attempts) == ("sent", 1)  # first try: no plaintext attempt was refused before


async def test_relay_with_an_untrusted_certificate_gets_nothing(
    sqlite_url: str, tls_relay: SmtpRelayDouble, default_trust: None
) -> None:
    async with email_gateway(sqlite_url, tls_relay, outbox_max_attempts=1) as live:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port(live), timeout=10, start_tls=False)
        async with client:
            await _send(client, mail("社保卡丢了怎么办"))
        await live.gateway.pipeline.drain()  # the reply is in the outbox
        row = await outbox_settled(live, (await _outbox_row(live)).message_id)
    assert row.status == "dead" and "TLS certificate not trusted" in (row.last_error or "")
    assert tls_relay.received.empty()


# --- inbound: an imaps mailbox ---------------------------------------------------------------------


async def test_imaps_mailbox_is_answered_once(
    sqlite_url: str, certs: Certificates, trust_test_ca: None
) -> None:
    question = mail("营业执照怎么办理", sender="wang@example.org")
    async with dovecot_server(tls=certs) as dovecot, smtp_relay() as relay:
        dovecot.drop(question)
        async with email_gateway(sqlite_url, relay, smtp_port=0, imap_url=[dovecot.url(tls=True)]) as live:
            reply = (await relay.next_mail()).message
            await handled(live, 1)
            await live.gateway.pipeline.drain()
            await live.gateway.outbox.run_until_idle()
            async with live.gateway.session_factory() as session:
                answers = await session.scalar(select(func.count()).select_from(OutboxItem))
                stored = await session.scalar(
                    select(Message).where(Message.provider_message_id == message_id(question))
                )
        assert reply["In-Reply-To"] == f"<{message_id(question)}>"
        assert answers == 1 and relay.received.empty()
        assert stored is not None and stored.extra["received_via"] == "imap"
        assert await folder_state(dovecot, "INBOX") == [(message_id(question), True)]


class _Logged(logging.Handler):
    """Sets :attr:`seen` when a record containing ``needle`` is logged."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.seen.set()


async def test_imaps_server_with_an_untrusted_certificate_is_not_read(
    sqlite_url: str, certs: Certificates, default_trust: None
) -> None:
    question = mail("营业执照怎么办理")
    watcher = _Logged("SSLCertVerificationError")
    logger = logging.getLogger("channels.email.imap_poller")
    logger.addHandler(watcher)
    try:
        async with dovecot_server(tls=certs) as dovecot, smtp_relay() as relay:
            dovecot.drop(question)
            async with email_gateway(
                sqlite_url, relay, smtp_port=0, imap_url=[dovecot.url(tls=True)]
            ) as live:
                await asyncio.wait_for(watcher.seen.wait(), 10)  # the first session failed verification
                channel = live.gateway.channels["email"]
                assert isinstance(channel, EmailChannel)
                assert channel.pollers[0].handled == 0 and not channel._tasks[0].done()  # and it retries
            assert relay.received.empty()
            assert await folder_state(dovecot, "INBOX") == [(message_id(question), False)]
    finally:
        logger.removeHandler(watcher)
