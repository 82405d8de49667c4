"""Contacts' opt-out state: who asked not to be messaged any more.

A citizen who texts STOP (or 退订/TD) must get one confirmation and then nothing else until they
opt back in (START/订阅), as carriers and Twilio's own opt-out handling require (CTIA Messaging
Principles; Twilio "Advanced Opt-Out"). The state lives on :class:`~gateway.store.models.Contact`
(``opted_out_at``), so operators see it and every process sharing the database honours it.
Addresses are personal data: nothing here logs them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from gateway.store.db import SessionFactory
from gateway.store.models import Contact, utcnow
from gateway.store.upsert import get_or_create_contact


async def set_opted_out(
    session_factory: SessionFactory, channel: str, address: str, *, when: dt.datetime | None = None
) -> None:
    """Mark ``address`` on ``channel`` as opted out (creating the contact if new).

    An earlier opt-out keeps its original time: the first STOP is what counts for audits.
    """
    async with session_factory() as session, session.begin():
        contact = await get_or_create_contact(session, channel, address)
        if contact.opted_out_at is None:
            contact.opted_out_at = when or utcnow()


async def clear_opted_out(session_factory: SessionFactory, channel: str, address: str) -> bool:
    """Opt ``address`` back in; True when it was opted out."""
    async with session_factory() as session, session.begin():
        result = await session.execute(
            update(Contact)
            .where(Contact.channel == channel, Contact.address == address, Contact.opted_out_at.is_not(None))
            .values(opted_out_at=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
