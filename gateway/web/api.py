"""REST API v1: ask the responder, log in, work the queue, inspect the outbox.

Authentication: ``POST /api/v1/auth/login`` returns a bearer token; every other route except
``/ask`` needs ``Authorization: Bearer <token>``. Operators see and answer every conversation;
department staff only those forwarded to their department; admins everything plus the outbox.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import auth
from gateway.replies import enqueue_reply
from gateway.runtime import Gateway
from gateway.store.models import Conversation, Message, OutboxItem, User, utcnow
from gateway.web import schemas

router = APIRouter(prefix="/api/v1")


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _session(request: Request):  # type: ignore[no-untyped-def]
    async with _gateway(request).session_factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


async def current_user(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> User:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    user = await auth.user_for_token(session, token.strip())
    if user is None:
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return user


UserDep = Annotated[User, Depends(current_user)]


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise HTTPException(403, "administrators only")


@router.post("/ask", response_model=schemas.AskResponse, tags=["responder"])
async def ask(body: schemas.AskRequest, request: Request) -> dict[str, Any]:
    """Ask the responder as a citizen would; nothing is stored."""
    gateway = _gateway(request)
    await gateway.responder.reload(gateway.session_factory)
    decision = gateway.responder.decide(body.text, channel=body.channel)
    return gateway.responder.as_json(decision)


@router.post("/auth/login", response_model=schemas.LoginResponse, tags=["auth"])
async def login(body: schemas.LoginRequest, request: Request, session: SessionDep) -> dict[str, Any]:
    user = await auth.authenticate(session, body.name, body.password)
    if user is None:
        raise HTTPException(401, "wrong name or password")
    token, expires_at = await auth.issue_token(session, user, _gateway(request).settings.auth_token_hours)
    await session.commit()
    return {"token": token, "expires_at": expires_at, "role": user.role}


def _visible_to(user: User) -> Any:
    if user.role == "department":
        return Conversation.department_id == user.department_id
    return True


def _contact_label(conversation: Conversation) -> str:
    # A web-chat address is the session token, a secret: show only its end.
    address = conversation.contact.address
    return f"web chat session …{address[-4:]}" if conversation.channel == "webchat" else address


async def _preview(session: AsyncSession, conversation_id: int) -> str:
    text = await session.scalar(
        select(Message.text)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(1)
    )
    return (text or "")[:140]


@router.get("/conversations", response_model=list[schemas.ConversationSummary], tags=["operators"])
async def list_conversations(
    user: UserDep,
    session: SessionDep,
    status: Annotated[str, Query(pattern="^(open|queued|forwarded|answered|closed|all)$")] = "queued",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Conversations by status, oldest waiting first (default: the queue)."""
    query = select(Conversation).where(_visible_to(user))
    if status != "all":
        query = query.where(Conversation.status == status)
    rows = list(await session.scalars(query.order_by(Conversation.last_message_at).limit(limit)))
    return [{**_summary(c), "preview": await _preview(session, c.id)} for c in rows]


def _summary(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "channel": c.channel,
        "status": c.status,
        "subject": c.subject,
        "department_id": c.department_id,
        "created_at": c.created_at,
        "last_message_at": c.last_message_at,
    }


async def _visible_conversation(session: AsyncSession, user: User, conversation_id: int) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(Conversation.id == conversation_id, _visible_to(user))
    )
    if conversation is None:
        raise HTTPException(404, "no such conversation")
    return conversation


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationDetail, tags=["operators"])
async def read_conversation(conversation_id: int, user: UserDep, session: SessionDep) -> dict[str, Any]:
    conversation = await _visible_conversation(session, user, conversation_id)
    messages = list(
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    return {
        **_summary(conversation),
        "preview": await _preview(session, conversation.id),
        "contact": _contact_label(conversation),
        "messages": [
            {
                "id": m.id,
                "direction": m.direction,
                "author": m.author,
                "text": m.text,
                "subject": m.subject,
                "state": m.state,
                "decision": m.decision,
                "entry_id": m.entry_id,
                "error_code": m.error_code,
                "created_at": m.created_at,
            }
            for m in messages
        ],
    }


@router.post(
    "/conversations/{conversation_id}/reply",
    response_model=schemas.ReplyResponse,
    status_code=201,
    tags=["operators"],
)
async def reply(
    conversation_id: int,
    body: schemas.ReplyRequest,
    request: Request,
    user: UserDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> dict[str, Any]:
    """Answer a conversation over its own channel (through the outbox).

    Send an ``Idempotency-Key`` header to make a retried request safe: the same key returns the
    first reply instead of sending a second one.
    """
    conversation = await _visible_conversation(session, user, conversation_id)
    key = f"api:{user.id}:{idempotency_key}" if idempotency_key else None
    if key is not None:
        existing = await _reply_for_key(session, key)
        if existing is not None:
            return existing
    last_inquiry = await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(1)
    )
    author = "department" if user.role == "department" else "operator"
    message = enqueue_reply(
        session,
        conversation,
        body.text,
        author=author,
        recipient=conversation.contact.address,
        in_reply_to=last_inquiry,
        author_user_id=user.id,
        idempotency_key=key,
    )
    conversation.status = "closed" if body.close else "answered"
    conversation.pending_options = None
    conversation.assigned_user_id = user.id
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await _reply_for_key(session, key) if key else None
        if existing is None:
            raise
        return existing
    _gateway(request).outbox.notify()
    return {"message_id": message.id, "conversation_id": conversation.id, "state": message.state}


async def _reply_for_key(session: AsyncSession, key: str) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(Message.id, Message.conversation_id, Message.state)
            .join(OutboxItem, OutboxItem.message_id == Message.id)
            .where(OutboxItem.idempotency_key == key)
        )
    ).first()
    if row is None:
        return None
    return {"message_id": row.id, "conversation_id": row.conversation_id, "state": row.state}


@router.get("/outbox", response_model=list[schemas.OutboxItemOut], tags=["admin"])
async def list_outbox(
    user: UserDep,
    session: SessionDep,
    status: Annotated[str, Query(pattern="^(pending|sending|sent|dead)$")] = "dead",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OutboxItem]:
    """Outbox rows by status; ``dead`` (the default) lists dead letters."""
    _require_admin(user)
    rows = await session.scalars(
        select(OutboxItem).where(OutboxItem.status == status).order_by(OutboxItem.id.desc()).limit(limit)
    )
    return list(rows)


@router.post("/outbox/{item_id}/retry", response_model=schemas.OutboxItemOut, tags=["admin"])
async def retry_outbox_item(item_id: int, request: Request, user: UserDep, session: SessionDep) -> OutboxItem:
    """Give a dead letter another round of attempts."""
    _require_admin(user)
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), finished_at=None)
        .returning(OutboxItem)
    )
    item = result.scalar_one_or_none()
    if item is None:
        raise HTTPException(409, "no dead outbox item with that id")
    await session.execute(update(Message).where(Message.id == item.message_id).values(state="pending"))
    await session.commit()
    _gateway(request).outbox.notify()
    return item


@router.get("/stats", tags=["admin"])
async def stats(user: UserDep, session: SessionDep) -> dict[str, Any]:
    """Counts for dashboards: inquiries by channel and decision, conversations by status."""
    by_decision = await session.execute(
        select(Message.channel, Message.decision, func.count())
        .where(Message.direction == "in")
        .group_by(Message.channel, Message.decision)
    )
    by_status = await session.execute(select(Conversation.status, func.count()).group_by(Conversation.status))
    return {
        "inquiries": [{"channel": c, "decision": d, "count": n} for c, d, n in by_decision],
        "conversations": {s: n for s, n in by_status},
    }
