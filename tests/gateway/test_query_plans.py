"""Every statement an inquiry's round trip runs finds its rows through an index.

A query that scans ``messages`` or ``conversations`` works in a test database of ten rows and
costs time in proportion to the platform's whole history in production; nothing else would
notice. This test records the statements the gateway runs while SMS and e-mail inquiries are
received, decided, answered and confirmed on SQLite, and asks SQLite for each one's plan
(``EXPLAIN QUERY PLAN``, https://sqlite.org/eqp.html).

Found this way: the intake's ``(channel, key) IN (VALUES ...)`` look-ups, which SQLite plans as a
scan of a whole index.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from tests.channels.email_driver import Envelope, email_gateway, mail, smtp_port, smtp_session
from tests.channels.twilio_driver import Webhook, post_webhook, sms_form, twilio_gateway
from tests.doubles.smtp_relay import smtp_relay
from tests.doubles.twilio_api import TwilioDouble
from tests.support.live import LiveGateway

# Tables that grow with every message. A plan line that scans one of them, or searches messages
# by direction alone (half the table), is a cost that grows with history.
GROWING = ("messages", "conversations", "contacts", "outbox", "blobs")
_SCAN = re.compile(rf"^SCAN ({'|'.join(GROWING)})\b")
_DIRECTION_ONLY = "(direction=?)"


@contextmanager
def recorded_statements() -> Iterator[list[tuple[str, Sequence[Any]]]]:
    """Collect ``(sql, parameters)`` of every single-row statement run on SQLite in the block."""
    statements: list[tuple[str, Sequence[Any]]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if conn.dialect.name == "sqlite" and not many:
            statements.append((statement, tuple(parameters or ())))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def growing_scans(database_path: str, statements: list[tuple[str, Sequence[Any]]]) -> list[str]:
    """The statements whose plan scans a growing table, with the offending plan lines."""
    found = []
    with sqlite3.connect(database_path) as db:
        for sql, parameters in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            plan = [str(row[3]) for row in db.execute("EXPLAIN QUERY PLAN " + sql, parameters)]
            bad = [line for line in plan if _SCAN.match(line) or line.endswith(_DIRECTION_ONLY)]
            if bad:
                found.append(f"{' '.join(sql.split())[:300]}\n    -> {bad}")
    return sorted(set(found))


def _database_path(live: LiveGateway) -> str:
    path = make_url(live.gateway.settings.database_url).database
    assert path, "a file database is needed to read plans from"
    return path


async def _settle(live: LiveGateway) -> None:
    await live.gateway.pipeline.drain()
    await live.gateway.outbox.run_until_idle()


async def test_sms_round_trip_uses_indexes(sqlite_url: str) -> None:
    questions = ["第一次办身份证需要什么材料", "社保卡丢了怎么办", "户口", "居住证怎么办", "身份证丢了怎么办"]
    async with TwilioDouble(auto_status=("sent", "delivered")) as tw, twilio_gateway(sqlite_url, tw) as live:
        with recorded_statements() as statements:
            # A burst from several numbers: the intake stores them as one group, and SQLite plans
            # a look-up of several keys differently from a look-up of one.
            burst = [
                post_webhook(
                    live, tw.auth_token, Webhook(sms_form(text, f"SM{n:032d}", sender=f"+861380013800{n}"))
                )
                for n, text in enumerate(questions)
            ]
            assert [r.status_code for r in await asyncio.gather(*burst)] == [200] * len(questions)
            await tw.wait_for_messages(len(questions))
            # The menu "户口" produced, answered with a number: the pick goes through its own path.
            answer = Webhook(sms_form("2", "SM" + "9" * 32, sender="+8613800138002"))
            assert (await post_webhook(live, tw.auth_token, answer)).status_code == 200
            await tw.wait_for_messages(len(questions) + 1)
            await tw.wait_for_callbacks(2 * (len(questions) + 1))
            await _settle(live)
        path = _database_path(live)
    assert len(statements) > 20  # the recording saw the round trips
    assert growing_scans(path, statements) == []


async def test_email_round_trip_uses_indexes(sqlite_url: str) -> None:
    async with smtp_relay() as relay, email_gateway(sqlite_url, relay) as live:
        with recorded_statements() as statements:
            first = mail("社保卡丢了怎么办", subject="社保卡", sender="li.lei@example.org")
            assert (await smtp_session(smtp_port(live), Envelope(first)))[0] == 250
            reply = (await relay.next_mail()).message
            follow = mail(
                "还需要照片吗",
                subject=str(reply["Subject"]),
                sender="li.lei@example.org",
                headers={"In-Reply-To": str(reply["Message-ID"])},
            )
            assert (await smtp_session(smtp_port(live), Envelope(follow)))[0] == 250
            await relay.next_mail()
            await _settle(live)
        path = _database_path(live)
    assert len(statements) > 10
    assert growing_scans(path, statements) == []
