"""Writing a reply: an outbound message and its outbox row, in the caller's transaction.

Every reply — the bot's decision, an operator's answer, a channel's control message — goes out
this way, so it is durable the moment its decision commits and the outbox delivers it. Writing
needs no I/O of its own (the rows go in with the caller's flush; on PostgreSQL a trigger NOTIFYs
listening workers at commit, migration 0004), so it works in sync and async sessions alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from gateway.store.models import Conversation, Message, OutboxItem, utcnow


def enqueue_reply(
    session: Session | AsyncSession,
    conversation: Conversation,
    text: str,
    *,
    author: str,
    recipient: str,
    in_reply_to: Message | None = None,
    author_user_id: int | None = None,
    options: list[dict[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Add an outbound message and its outbox row to ``session`` (the caller commits; the
    message's ``id`` is set by the flush that commit performs).

    ``idempotency_key`` defaults to a fresh UUID; callers that may be retried (an API client
    sending ``Idempotency-Key``) pass their own, and the unique constraint refuses a second copy.
    """
    message = Message(
        conversation_id=conversation.id,
        channel=conversation.channel,
        direction="out",
        author=author,
        author_user_id=author_user_id,
        text=text,
        state="pending",
        in_reply_to_id=in_reply_to.id if in_reply_to is not None else None,
        extra={"options": options or []},
    )
    payload = {
        "recipient": recipient,
        "conversation_key": conversation.key,
        "text": text,
        "author": author,
        "inquiry_id": in_reply_to.id if in_reply_to is not None else None,
        "options": options or [],
        "in_reply_to": in_reply_to.provider_message_id if in_reply_to is not None else None,
        "metadata": dict(metadata or {}),
    }
    # No flush here: the unit of work inserts the message first (it knows the outbox row needs
    # its id), so the replies of a whole batch of decisions go out in one multi-row INSERT.
    session.add(
        OutboxItem(
            message=message,
            channel=conversation.channel,
            idempotency_key=idempotency_key or uuid.uuid4().hex,
            payload=payload,
        )
    )
    conversation.last_message_at = utcnow()
    return message
