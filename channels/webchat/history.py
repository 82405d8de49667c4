"""Reading a web-chat conversation's history for a (re)connecting client."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.store.db import SessionFactory
from gateway.store.models import Conversation, Message

# Outbound messages still waiting in the outbox are left out: the worker pushes them live.
VISIBLE_OUTBOUND_STATES = ("sent", "stored", "delivered")


def history_item(message: Message) -> dict[str, Any]:
    """One message as the page shows it; a citizen's own carries the ``client_id`` it was sent with."""
    item = {
        "direction": message.direction,
        "text": message.text,
        "from": message.author,
        "inquiry_id": message.id if message.direction == "in" else message.in_reply_to_id,
        "message_id": message.id,
        "at": message.created_at.isoformat(),
        "options": (message.extra or {}).get("options", []) if message.direction == "out" else [],
    }
    if message.direction == "in":
        item["client_id"] = (message.extra or {}).get("client_id")
    return item


async def load_history(session_factory: SessionFactory, token: str, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` visible messages of the session's conversation, oldest first."""
    async with session_factory() as session:
        conversation_id = await session.scalar(
            select(Conversation.id).where(Conversation.channel == "webchat", Conversation.key == token)
        )
        if conversation_id is None:
            return []
        rows = await session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                (Message.direction == "in") | Message.state.in_(VISIBLE_OUTBOUND_STATES),
            )
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return [history_item(m) for m in reversed(list(rows))]
