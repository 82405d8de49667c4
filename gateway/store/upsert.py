"""Race-free get-or-create for the rows every inbound message needs (contact, conversation).

Two listeners may receive the first two messages of one conversation at the same moment; a
plain SELECT-then-INSERT would raise a uniqueness error in one of them. ``INSERT ... ON CONFLICT
DO NOTHING`` (PostgreSQL and SQLite >= 3.24 share the syntax) followed by a SELECT cannot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import Contact, Conversation


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def get_or_create_contact(session: AsyncSession, channel: str, address: str) -> Contact:
    await session.execute(
        _insert(session, Contact)
        .values(channel=channel, address=address, display_name="")
        .on_conflict_do_nothing(index_elements=["channel", "address"])
    )
    contact = await session.scalar(
        select(Contact).where(Contact.channel == channel, Contact.address == address)
    )
    assert contact is not None  # inserted or already there
    return contact


async def get_or_create_conversation(
    session: AsyncSession, channel: str, key: str, contact_id: int, subject: str = ""
) -> Conversation:
    await session.execute(
        _insert(session, Conversation)
        .values(channel=channel, key=key, contact_id=contact_id, status="open", subject=subject[:500])
        .on_conflict_do_nothing(index_elements=["channel", "key"])
    )
    conversation = await session.scalar(
        select(Conversation).where(Conversation.channel == channel, Conversation.key == key)
    )
    assert conversation is not None
    return conversation
