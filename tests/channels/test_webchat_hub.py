"""The hub's ordering and recent-reply guarantees, with stand-ins for Starlette's sockets."""

from __future__ import annotations

from typing import Any

from channels.webchat.hub import Hub


class FakeSocket:
    """Records frames, like a connected browser would receive them."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_text(self, frame: str) -> None:
        self.frames.append(frame)


def item(message_id: int) -> dict[str, Any]:
    return {"direction": "out", "message_id": message_id, "text": f"reply {message_id}"}


async def test_reply_published_to_nobody_is_in_the_next_joiners_history() -> None:
    hub = Hub()
    assert await hub.publish("s", "frame-1", 1, item(1)) == 0
    joiner = FakeSocket()
    async with hub.joining("s", joiner):  # type: ignore[arg-type]
        assert hub.recent_history("s", joiner, already_shown=set()) == [item(1)]  # type: ignore[arg-type]
        assert hub.recent_history("s", joiner, already_shown={1}) == []  # type: ignore[arg-type]


async def test_reply_pushed_to_a_socket_is_not_repeated_in_its_history_but_is_in_a_new_ones() -> None:
    hub = Hub()
    first = FakeSocket()
    async with hub.joining("s", first):  # type: ignore[arg-type]
        pass
    assert await hub.publish("s", "frame-2", 2, item(2)) == 1
    assert first.frames == ["frame-2"]
    assert hub.recent_history("s", first, set()) == []  # type: ignore[arg-type]
    second = FakeSocket()
    async with hub.joining("s", second):  # type: ignore[arg-type]
        assert hub.recent_history("s", second, set()) == [item(2)]  # type: ignore[arg-type]
    assert second.frames == []
