"""Storing inquiries: dedup and persist, committed in groups.

Every inquiry needs its contact, its conversation, the message and its blobs written before the
sender may be acknowledged. Doing that one inquiry per transaction costs about eight statements and a
commit each; under load, inquiries arrive faster than that. :class:`Intake` therefore *group-commits*:
inquiries that arrive while a commit is in flight wait for the next one, which stores them all with
a handful of multi-row statements, and each caller is answered once that shared commit is done —
so nobody is acknowledged before their own data is durable.

De-duplication by ``(channel, provider message id)`` happens before inserting (one query for the
group, first copy wins within the group); a race with another process that slips past it ends in
an IntegrityError, after which the group is stored one inquiry at a time, where the unique
constraint settles each race.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from gateway.store.db import SessionFactory
from gateway.store.models import Blob, Contact, Conversation, Message, utcnow
from gateway.store.units import run_unit
from gateway.store.upsert import get_or_create_contact, get_or_create_conversation
from normalizer import Inquiry

MAX_GROUP = 200  # inquiries in one commit at most; bounds statement size and latency


def attachment_records(inquiry: Inquiry) -> list[dict[str, Any]]:
    return [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": a.url, "note": a.note}
        for a in inquiry.attachments
    ]


def blobs_for(message_id: int, inquiry: Inquiry) -> list[Blob]:
    blobs = [
        Blob(
            message_id=message_id,
            kind="attachment",
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            data=a.data,
            note=a.note,
        )
        for a in inquiry.attachments
    ]
    if inquiry.raw_source is not None:
        content_type = "message/rfc822" if inquiry.channel == "email" else "application/octet-stream"
        blobs.append(
            Blob(
                message_id=message_id,
                kind="raw",
                filename="source",
                size=len(inquiry.raw_source),
                content_type=content_type,
                data=inquiry.raw_source,
            )
        )
    return blobs


def _message_values(inquiry: Inquiry, conversation_id: int) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "channel": inquiry.channel,
        "direction": "in",
        "author": "citizen",
        "provider_message_id": inquiry.provider_message_id,
        "subject": inquiry.subject[:500],
        "text": inquiry.text,
        "language": inquiry.language,
        "attachments": attachment_records(inquiry),
        "extra": {"recipient": inquiry.recipient, **inquiry.metadata},
        "state": "received",
        "created_at": inquiry.received_at,
    }


def _ids_by_key(
    session: Session,
    channel_column: Any,
    key_column: Any,
    id_column: Any,
    pairs: set[tuple[str, str]],
    *criteria: Any,
) -> dict[tuple[str, str], int]:
    """Row ids for ``(channel, key)`` pairs, one ``channel = ? AND key IN (...)`` per channel.

    Not ``(channel, key) IN (...)``: SQLite plans a row-value IN list of several rows as a scan
    of the whole index (EXPLAIN QUERY PLAN says ``SCAN ... USING COVERING INDEX``), so each group
    would cost time in proportion to everything ever stored; tests/gateway/test_query_plans.py
    checks this. A group of inquiries nearly always comes from one channel: one statement.
    """
    by_channel: defaultdict[str, set[str]] = defaultdict(set)
    for channel, key in pairs:
        by_channel[channel].add(key)
    return {
        (channel, str(key)): row_id
        for channel, keys in by_channel.items()
        for key, row_id in session.execute(
            select(key_column, id_column).where(channel_column == channel, key_column.in_(keys), *criteria)
        )
    }


def _insert(session: Session | AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class Intake:
    """Persists inquiries, several per commit under load; see the module docstring."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory
        self._waiting: list[tuple[Inquiry, asyncio.Future[tuple[int, bool]]]] = []
        self._flushing = False

    async def persist(self, inquiry: Inquiry) -> tuple[int, bool]:
        """Store ``inquiry``; return its id and whether it was a duplicate, once committed."""
        done: asyncio.Future[tuple[int, bool]] = asyncio.get_running_loop().create_future()
        self._waiting.append((inquiry, done))
        if not self._flushing:
            self._flushing = True
            asyncio.ensure_future(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
                inquiries = [inquiry for inquiry, _ in group]
                try:
                    results = await self._persist_group(inquiries)
                except IntegrityError:
                    await self._persist_each(group)
                    continue
                except BaseException as exc:  # noqa: BLE001 - every caller gets the failure
                    for _, done in group:
                        done.set_exception(exc)
                    continue
                for (_, done), result in zip(group, results, strict=True):
                    done.set_result(result)
        finally:
            self._flushing = False

    async def _persist_each(self, group: list[tuple[Inquiry, asyncio.Future[tuple[int, bool]]]]) -> None:
        for inquiry, done in group:
            try:
                done.set_result(await self.persist_one(inquiry))
            except BaseException as exc:  # noqa: BLE001 - this caller gets its own failure
                done.set_exception(exc)

    async def _persist_group(self, inquiries: list[Inquiry]) -> list[tuple[int, bool]]:
        return await run_unit(self.session_factory, lambda session: self._store_group(session, inquiries))

    def _store_group(self, session: Session, inquiries: list[Inquiry]) -> list[tuple[int, bool]]:
        stored = self._already_stored(session, inquiries)
        first_of: dict[tuple[str, str], int] = {}
        fresh: list[Inquiry] = []
        for inquiry in inquiries:
            key = (inquiry.channel, inquiry.provider_message_id)
            if key not in stored and key not in first_of:
                first_of[key] = len(fresh)
                fresh.append(inquiry)
        ids = self._insert_fresh(session, fresh) if fresh else []
        results = []
        for inquiry in inquiries:
            key = (inquiry.channel, inquiry.provider_message_id)
            if key in stored:
                results.append((stored[key], True))
            else:
                index = first_of[key]
                first = fresh[index] is inquiry
                results.append((ids[index], not first))
        return results

    def _already_stored(self, session: Session, inquiries: list[Inquiry]) -> dict[tuple[str, str], int]:
        keys = {(i.channel, i.provider_message_id) for i in inquiries}
        return _ids_by_key(
            session, Message.channel, Message.provider_message_id, Message.id, keys, Message.direction == "in"
        )

    def _insert_fresh(self, session: Session, fresh: list[Inquiry]) -> list[int]:
        contacts = {(i.channel, i.sender) for i in fresh}
        # executemany, not a multi-row VALUES: one statement whatever the group's size, so
        # SQLAlchemy compiles it once (a VALUES list of a new length is compiled afresh).
        session.execute(
            _insert(session, Contact).on_conflict_do_nothing(index_elements=["channel", "address"]),
            [{"channel": c, "address": a, "display_name": ""} for c, a in contacts],
        )
        contact_ids = _ids_by_key(session, Contact.channel, Contact.address, Contact.id, contacts)
        conversations: dict[tuple[str, str], dict[str, Any]] = {}
        for i in fresh:
            conversations.setdefault(
                (i.channel, i.conversation_key),
                {
                    "channel": i.channel,
                    "key": i.conversation_key,
                    "status": "open",
                    "subject": i.subject[:500],
                    "contact_id": contact_ids[(i.channel, i.sender)],
                },
            )
        session.execute(
            _insert(session, Conversation).on_conflict_do_nothing(index_elements=["channel", "key"]),
            list(conversations.values()),
        )
        conversation_ids = _ids_by_key(
            session, Conversation.channel, Conversation.key, Conversation.id, set(conversations)
        )
        # One executemany without RETURNING, then one SELECT for the ids: SQLite can only return
        # ids in parameter order one row at a time, which would cost a statement per inquiry.
        session.execute(
            insert(Message),
            [_message_values(i, conversation_ids[(i.channel, i.conversation_key)]) for i in fresh],
        )
        stored = self._already_stored(session, fresh)
        ids = [stored[(i.channel, i.provider_message_id)] for i in fresh]
        session.execute(
            update(Conversation)
            .where(Conversation.id.in_(set(conversation_ids.values())))
            .values(last_message_at=utcnow())
        )
        session.add_all(
            [blob for message_id, i in zip(ids, fresh, strict=True) for blob in blobs_for(message_id, i)]
        )
        return ids

    async def persist_one(self, inquiry: Inquiry) -> tuple[int, bool]:
        """Store one inquiry in a transaction of its own; the unique constraint settles races."""
        try:
            async with self.session_factory() as session, session.begin():
                contact = await get_or_create_contact(session, inquiry.channel, inquiry.sender)
                conversation = await get_or_create_conversation(
                    session, inquiry.channel, inquiry.conversation_key, contact.id, inquiry.subject
                )
                message = Message(**_message_values(inquiry, conversation.id))
                session.add(message)
                conversation.last_message_at = utcnow()
                await session.flush()
                session.add_all(blobs_for(message.id, inquiry))
                return message.id, False
        except IntegrityError:
            async with self.session_factory() as session:
                existing = await session.scalar(
                    select(Message.id).where(
                        Message.channel == inquiry.channel,
                        Message.direction == "in",
                        Message.provider_message_id == inquiry.provider_message_id,
                    )
                )
            if existing is None:
                raise
            return existing, True
