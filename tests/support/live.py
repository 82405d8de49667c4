"""A real gateway running in the test's event loop, listening on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gateway.runtime import Gateway
from gateway.serve import Listening, serve
from gateway.settings import Settings, load_settings
from gateway.store.models import OutboxItem
from tests.support.paths import DEMO_KB, REPO


def settings_for_test(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test gateway: the given database, port 0, the demo knowledge base."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "http_port": 0,
        "smtp_port": 0,
        "kb_import_on_start": [str(p) for p in DEMO_KB],
        "outbox_backoff_base_seconds": 0.05,
        "outbox_backoff_max_seconds": 0.2,
        "serve_drain_seconds": 5.0,
    }
    values.update(overrides)
    return load_settings(REPO / "config" / "gateway.toml", **values)


@dataclass
class LiveGateway:
    gateway: Gateway
    base_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/channels/webchat/ws"


@asynccontextmanager
async def live_gateway(settings: Settings) -> AsyncIterator[LiveGateway]:
    """Run ``gateway serve`` in-process until the block ends, then shut it down gracefully."""
    gateway = await Gateway.open(settings)
    shutdown = asyncio.Event()
    ready: asyncio.Future[Listening] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(gateway, shutdown, on_ready=ready.set_result))
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what made start-up fail
    listening = ready.result()
    try:
        yield LiveGateway(gateway=gateway, base_url=listening.base_url)
    finally:
        shutdown.set()
        await asyncio.wait_for(task, 30)


async def outbox_settled(live: LiveGateway, message_id: int, timeout: float = 10.0) -> OutboxItem:
    """Wait until the outbox has recorded a final outcome (sent or dead) for ``message_id``.

    Race-free without polling: the outcome counter is read before each look at the row, and the
    wait is for the counter to move past that value, so an outcome recorded in between is not missed.
    """
    outbox = live.gateway.outbox
    async with asyncio.timeout(timeout):
        while True:
            seen = outbox.outcomes_recorded
            async with live.gateway.session_factory() as session:
                item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
            if item is not None and item.status in ("sent", "dead"):
                return item
            async with outbox.outcome:
                await outbox.outcome.wait_for(lambda seen=seen: outbox.outcomes_recorded > seen)
