"""A stand-in for the server side of the web chat socket, so the page can be tested on its own.

It mounts the real :data:`channels.webchat.page.page_router` and implements the "Web chat socket"
protocol of INTERFACE.md with canned logic (this is test code, not the gateway's responder):

* any message is acknowledged at once with a new inquiry id;
* text containing "?" / "？" gets a ``clarify``-style reply with two numbered options;
* "1" / "2" pick an option; text starting with "wait" gets no reply (a human will push one later);
* anything else gets ``typing`` then ``answer: <text>`` from the bot.

Control endpoints for the tests (plain HTTP, so tests in another thread can drive it):
``POST /_test/push?session=&text=&sender=&message_id=`` pushes a server-initiated reply (re-using a
``message_id`` re-sends a duplicate, ``live_id=false``
leaves the id out of the live frame but not out of the history), ``POST /_test/drop`` closes every socket and refuses new ones,
``POST /_test/accept`` accepts again, ``GET /_test/received`` lists the message frames received, ``GET /_test/portal?script=`` is a
host page embedding the widget.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from channels.webchat.page import page_router

OPTIONS = [{"n": 1, "id": "opt-a", "title": "身份证首次申领"}, {"n": 2, "id": "opt-b", "title": "身份证补领"}]


@dataclass
class _Session:
    history: list[dict[str, Any]] = field(default_factory=list)
    sockets: set[WebSocket] = field(default_factory=set)
    inquiries: dict[str, int] = field(default_factory=dict)  # client_id -> inquiry_id (dedupe)


@dataclass
class _State:
    sessions: dict[str, _Session] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    refusing: bool = False
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def build_app() -> FastAPI:
    """A FastAPI app with the page router, the stand-in socket and the control endpoints."""
    app = FastAPI()
    app.include_router(page_router)
    state = _State()

    async def reply(sess: _Session, inquiry_id: int | None, text: str, sender: str, **extra: Any) -> None:
        message_id = extra.pop("message_id", None) or next(state.ids)
        live_id = extra.pop("live_id", True)
        options = extra.pop("options", [])
        item = {
            "direction": "out",
            "text": text,
            "from": sender,
            "inquiry_id": inquiry_id,
            "message_id": message_id,
            "at": _now(),
            "options": options,
        }
        if not any(h["message_id"] == message_id for h in sess.history):
            sess.history.append(item)
        frame = {
            "type": "reply",
            "inquiry_id": inquiry_id,
            "message_id": message_id if live_id else None,
            "text": text,
            "from": sender,
            "options": options,
        }
        for ws in list(sess.sockets):
            await ws.send_json(frame)

    async def on_message(ws: WebSocket, sess: _Session, frame: dict[str, Any]) -> None:
        text, client_id = frame.get("text"), frame.get("client_id")
        if not isinstance(text, str) or not text.strip() or not isinstance(client_id, str):
            await ws.send_json({"type": "error", "error": "message needs text and client_id"})
            return
        state.received.append({"text": text, "client_id": client_id})
        if client_id in sess.inquiries:  # a re-send after a lost ack: same inquiry, no new reply
            await ws.send_json(
                {"type": "ack", "client_id": client_id, "inquiry_id": sess.inquiries[client_id]}
            )
            return
        inquiry_id = sess.inquiries[client_id] = next(state.ids)
        sess.history.append(
            {
                "direction": "in",
                "text": text,
                "from": "citizen",
                "inquiry_id": inquiry_id,
                "message_id": next(state.ids),
                "at": _now(),
                "options": [],
            }
        )
        await ws.send_json({"type": "ack", "client_id": client_id, "inquiry_id": inquiry_id})
        stripped = text.strip()
        if "?" in text or "？" in text:
            await reply(sess, inquiry_id, "您想问哪一项？", "bot", options=OPTIONS)
        elif stripped in {"1", "2"}:
            await reply(sess, inquiry_id, f"you chose: {OPTIONS[int(stripped) - 1]['title']}", "bot")
        elif not stripped.startswith("wait"):
            await ws.send_json({"type": "typing"})
            await reply(sess, inquiry_id, "answer: " + text, "bot")

    @app.websocket("/channels/webchat/ws")
    async def socket(ws: WebSocket) -> None:
        if state.refusing:
            await ws.close(code=1013)  # before accept: the handshake is refused (HTTP 403)
            return
        token = ws.query_params.get("session") or ""
        sess = state.sessions.get(token)
        if sess is None:
            token, sess = secrets.token_urlsafe(16), _Session()
            state.sessions[token] = sess
        await ws.accept()
        sess.sockets.add(ws)
        try:
            await ws.send_json({"type": "session", "session": token, "history": sess.history})
            while True:
                raw = await ws.receive_text()
                try:
                    frame = json.loads(raw)
                except ValueError:
                    frame = None
                if not isinstance(frame, dict):
                    await ws.send_json({"type": "error", "error": "frame is not a JSON object"})
                elif frame.get("type") == "message":
                    await on_message(ws, sess, frame)
                elif frame.get("type") != "typing":
                    await ws.send_json({"type": "error", "error": "unknown frame type"})
        except WebSocketDisconnect:
            pass
        finally:
            sess.sockets.discard(ws)

    @app.post("/_test/push")
    async def push(
        session: str, text: str, sender: str = "operator", message_id: int | None = None, live_id: bool = True
    ) -> dict:
        sess = state.sessions[session]
        await reply(sess, None, text, sender, message_id=message_id, live_id=live_id)
        return {"ok": True}

    @app.post("/_test/drop")
    async def drop() -> dict:
        state.refusing = True
        for sess in state.sessions.values():
            for ws in list(sess.sockets):
                await ws.close(code=1012)  # RFC 6455 §7.4 registry: 1012 = service restart
        return {"ok": True}

    @app.post("/_test/accept")
    async def accept() -> dict:
        state.refusing = False
        return {"ok": True}

    @app.get("/_test/portal", response_class=HTMLResponse)
    async def portal(script: str) -> str:
        # An integrator's page; the test loads it from another origin (localhost vs 127.0.0.1).
        return (
            '<!doctype html><html lang=en><head><title>City portal</title><link rel=icon href="data:,"></head><body>'
            f'<h1>City portal</h1><a href="#top">Top</a><script src="{html.escape(script)}" async '
            'data-lang="en" data-title="Ask the city"></script></body></html>'
        )

    @app.get("/_test/received")
    async def received() -> list[dict[str, Any]]:
        return state.received

    return app
