"""The web-chat channel: a JSON socket at ``/channels/webchat/ws`` plus the citizen page.

Receiving: each ``message`` frame becomes an :class:`~normalizer.Inquiry` whose sender and
conversation key are the session token; the ``ack`` frame is sent only after ``on_message``
returned, i.e. after the inquiry is committed. A duplicate ``client_id`` (a client resending after a
dropped connection) is acknowledged again with the first copy's id and not answered twice.

Sending: a reply is pushed to every open socket of its session; when none is open it stays in the
conversation and is part of the history the citizen gets on reconnect (status ``stored``).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from channels.base import Capabilities, Channel, Manifest, OutboundMessage, SendResult
from channels.webchat import protocol
from channels.webchat.history import load_history
from channels.webchat.hub import Hub
from channels.webchat.page import page_router
from gateway.errors import BadInput, StorageUnavailable
from normalizer import Inquiry
from normalizer.text import clean_text, guess_language

log = logging.getLogger(__name__)

# RFC 6455 §7.4.1 close codes.
CLOSE_POLICY_VIOLATION = 1008
CLOSE_GOING_AWAY = 1001
# Frames (of any type) one socket may send per second before it is closed as a flood.
MAX_FRAMES_PER_SECOND = 20


class _RateLimiter:
    """A token bucket: ``rate_per_minute`` messages, bursts up to a fifth of that (at least 5)."""

    def __init__(self, rate_per_minute: int) -> None:
        self.capacity = max(5.0, rate_per_minute / 5)
        self.tokens = self.capacity
        self.rate = rate_per_minute / 60.0
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class WebchatChannel(Channel):
    MANIFEST = Manifest(
        name="webchat",
        title="Web chat",
        capabilities=Capabilities(max_text_chars=4000, supports_options=True),
        settings_keys=(
            "webchat_max_frame_bytes",
            "webchat_max_text_chars",
            "webchat_messages_per_minute",
            "webchat_history_limit",
        ),
    )

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.hub = Hub()
        self._router = APIRouter()
        self._router.include_router(page_router)
        self._router.add_api_websocket_route("/channels/webchat/ws", self.serve_socket)

    @property
    def router(self) -> APIRouter:
        return self._router

    async def send(self, message: OutboundMessage) -> SendResult:
        frame = protocol.reply_frame(
            inquiry_id=message.inquiry_id,
            message_id=message.message_id,
            text=message.text,
            author=message.author,
            options=list(message.options),
        )
        item = {
            "direction": "out",
            "text": message.text,
            "from": message.author,
            "inquiry_id": message.inquiry_id,
            "message_id": message.message_id,
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "options": list(message.options),
        }
        delivered = await self.hub.publish(message.conversation_key, frame, message.message_id, item)
        return SendResult(provider_message_id=None, status="delivered" if delivered else "stored")

    async def aclose(self) -> None:
        await self.hub.close_all(CLOSE_GOING_AWAY, "server shutting down")

    async def serve_socket(self, socket: WebSocket) -> None:
        await socket.accept()
        requested = socket.query_params.get("session", "")
        token = requested if protocol.SESSION_TOKEN.match(requested) else secrets.token_urlsafe(24)
        self.context.metrics.webchat_connections.inc()
        try:
            # Joined before the history is read, so a reply sent meanwhile is not missed: it
            # waits for the session frame and is pushed right after it.
            async with self.hub.joining(token, socket):
                history = await load_history(
                    self.context.session_factory, token, self.settings.webchat_history_limit
                )
                shown = {item["message_id"] for item in history}
                history += self.hub.recent_history(token, socket, shown)
                history.sort(key=lambda item: item["message_id"])
                await socket.send_text(protocol.session_frame(token, history))
            await self._read_frames(socket, token)
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.remove(token, socket)
            self.context.metrics.webchat_connections.dec()

    async def _read_frames(self, socket: WebSocket, token: str) -> None:
        limiter = _RateLimiter(self.settings.webchat_messages_per_minute)
        window_start, frames_in_window = time.monotonic(), 0
        while True:
            event = await socket.receive()
            if event["type"] == "websocket.disconnect":
                return
            now = time.monotonic()
            if now - window_start >= 1.0:
                window_start, frames_in_window = now, 0
            frames_in_window += 1
            if frames_in_window > MAX_FRAMES_PER_SECOND:
                await socket.close(CLOSE_POLICY_VIOLATION, "too many frames")
                return
            raw = event.get("text")
            if raw is None:
                await self.hub.send(socket, token, protocol.error_frame("binary frames are not supported"))
                continue
            if len(raw.encode("utf-8")) > self.settings.webchat_max_frame_bytes:
                await self.hub.send(
                    socket,
                    token,
                    protocol.error_frame(f"frame larger than {self.settings.webchat_max_frame_bytes} bytes"),
                )
                continue
            try:
                frame = protocol.parse_client_frame(raw, max_text_chars=self.settings.webchat_max_text_chars)
            except protocol.FrameError as exc:
                await self.hub.send(socket, token, protocol.error_frame(str(exc)))
                continue
            if isinstance(frame, protocol.Typing):
                continue  # operators' typing indicators come later with the console
            if not limiter.allow():
                await self.hub.send(
                    socket, token, protocol.error_frame("rate limited: please wait a moment", frame.client_id)
                )
                continue
            await self._accept_message(socket, token, frame)

    async def _accept_message(self, socket: WebSocket, token: str, frame: protocol.ChatMessage) -> None:
        assert self.on_message is not None, "start() was not called"
        text = clean_text(frame.text)
        if not text:
            await self.hub.send(
                socket, token, protocol.error_frame("text must not be empty", frame.client_id)
            )
            return
        inquiry = Inquiry(
            channel="webchat",
            sender=token,
            conversation_key=token,
            text=text,
            language=guess_language(text),
            # Scoped to the session, so one client cannot collide with another's ids.
            provider_message_id=f"{token[:16]}:{frame.client_id}",
            metadata={"client_id": frame.client_id},
        )
        try:
            inquiry_id = await self.on_message(inquiry)
        except StorageUnavailable:
            await self.hub.send(
                socket, token, protocol.error_frame("temporarily unavailable, please resend", frame.client_id)
            )
            return
        except BadInput as exc:
            await self.hub.send(socket, token, protocol.error_frame(str(exc), frame.client_id))
            return
        await self.hub.send(socket, token, protocol.ack_frame(frame.client_id, inquiry_id))
