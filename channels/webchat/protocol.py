"""The web-chat socket protocol (INTERFACE.md "Web chat socket"), as pure functions.

Client frames are JSON text objects with a ``type``; :func:`parse_client_frame` validates one and
returns a typed value or raises :class:`FrameError` with a message fit for an ``error`` frame.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class FrameError(ValueError):
    """A client frame that cannot be used; ``str(error)`` is sent back in an ``error`` frame."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    text: str
    client_id: str


@dataclass(frozen=True, slots=True)
class Typing:
    pass


def parse_client_frame(raw: str, *, max_text_chars: int) -> ChatMessage | Typing:
    """Validate one client frame."""
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError("frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("frame must be a JSON object")
    kind = frame.get("type")
    if kind == "typing":
        return Typing()
    if kind != "message":
        raise FrameError("unknown frame type; expected 'message' or 'typing'")
    text, client_id = frame.get("text"), frame.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise FrameError("client_id must be a string of 1-100 letters, digits or -_.:")
    if not isinstance(text, str) or not text.strip():
        raise FrameError("text must be a non-empty string")
    if len(text) > max_text_chars:
        raise FrameError(f"text is longer than {max_text_chars} characters")
    return ChatMessage(text=text, client_id=client_id)


def session_frame(token: str, history: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "session", "session": token, "history": history}, ensure_ascii=False)


def ack_frame(client_id: str, inquiry_id: int) -> str:
    return json.dumps({"type": "ack", "client_id": client_id, "inquiry_id": inquiry_id})


def error_frame(error: str, client_id: str | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", "error": error}
    if client_id is not None:
        frame["client_id"] = client_id
    return json.dumps(frame, ensure_ascii=False)


def reply_frame(
    *, inquiry_id: int | None, message_id: int, text: str, author: str, options: list[dict[str, Any]]
) -> str:
    return json.dumps(
        {
            "type": "reply",
            "inquiry_id": inquiry_id,
            "message_id": message_id,
            "text": text,
            "from": author,
            "options": options,
        },
        ensure_ascii=False,
    )


TYPING_FRAME = json.dumps({"type": "typing"})
