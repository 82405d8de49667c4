"""Delivery receipts: providers report what became of a sent message (Twilio status callbacks,
bounce mails), and the outbound message's ``state`` follows.

States only move forward (``sent`` → ``delivered`` → ``read``; or to ``undelivered``/``failed``):
providers deliver callbacks out of order and more than once, and a late ``sent`` must not undo a
``delivered``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.db import SessionFactory
from gateway.store.models import Message
from gateway.store.units import run_unit

# Rank of each state; an update is applied only when it does not go backwards.
_RANK = {
    "pending": 0,
    "queued": 1,
    "sending": 1,
    "sent": 2,
    "stored": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "read": 4,
}


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A provider's word on one outbound message, found by its provider message id."""

    channel: str
    provider_message_id: str
    state: str
    error_code: str | None = None
    reason: str | None = None


async def record_delivery(session_factory: SessionFactory, update: DeliveryUpdate) -> bool:
    """Apply ``update``; False when no outbound message has that provider id.

    A repeated or out-of-order (older) update is accepted and changes nothing.
    """
    if update.state not in _RANK:
        raise ValueError(f"unknown delivery state {update.state!r}")
    return await run_unit(session_factory, lambda session: _apply(session, update))


def _apply(session: Session, update: DeliveryUpdate) -> bool:
    message = session.scalar(
        select(Message)
        .where(
            Message.channel == update.channel,
            Message.direction == "out",
            Message.provider_message_id == update.provider_message_id,
        )
        .with_for_update()
    )
    if message is None:
        return False
    if _RANK[update.state] >= _RANK.get(message.state, 0):
        message.state = update.state
        if update.error_code is not None or update.reason is not None:
            message.error_code = update.error_code
            message.error_reason = (update.reason or "")[:500] or None
    return True
