"""Request and response bodies of the REST API (they make up the OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class AskRequest(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    channel: str = "api"


class AskOption(BaseModel):
    id: str
    score: float


class AskResponse(BaseModel):
    """The same shape as one line of ``gateway ask --json``."""

    decision: Literal["answer", "clarify", "queue"]
    id: str | None
    kind: str | None
    score: float
    options: list[AskOption]
    reply: str


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    password: str = Field(min_length=1, max_length=200)


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: dt.datetime
    role: str


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    author: str
    text: str
    subject: str
    state: str
    decision: str | None
    entry_id: str | None
    error_code: str | None
    created_at: dt.datetime


class ConversationSummary(BaseModel):
    id: int
    channel: str
    status: str
    subject: str
    department_id: str | None
    created_at: dt.datetime
    last_message_at: dt.datetime
    preview: str


class ConversationDetail(ConversationSummary):
    contact: str
    messages: list[MessageOut]


class ReplyRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
    close: bool = False


class ReplyResponse(BaseModel):
    message_id: int
    conversation_id: int
    state: str


class OutboxItemOut(BaseModel):
    id: int
    message_id: int
    channel: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    last_error_code: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
