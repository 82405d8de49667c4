"""``gateway serve``: the HTTP app, channel listeners and workers in one task group.

Shutdown is triggered by the injectable ``shutdown`` event (set by SIGTERM/SIGINT in the CLI, by
the test harness in tests) and drains in order: stop taking HTTP traffic and close sockets, decide
what was accepted, finish sends in flight, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from gateway.runtime import Gateway
from gateway.web.app import create_app

log = logging.getLogger(__name__)

# Hard cap on one websocket message at the protocol level (RFC 6455 close 1009 above it);
# the web-chat channel applies its own, smaller limit with a friendly error frame.
WS_PROTOCOL_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the gateway listens, reported once it is ready."""

    http_host: str
    http_port: int
    channels: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (ours drains first) and with a ready event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets)
        self.ready.set()

    def bound_port(self) -> int:
        return int(self.servers[0].sockets[0].getsockname()[1])


async def serve(
    gateway: Gateway,
    shutdown: asyncio.Event,
    *,
    on_ready: Callable[[Listening], None] | None = None,
) -> None:
    """Run an opened gateway until ``shutdown`` is set, then drain, close it and return."""
    settings = gateway.settings
    server = _Server(
        uvicorn.Config(
            create_app(gateway),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,  # access logs would carry citizens' session tokens in query strings
            lifespan="off",
            ws_max_size=WS_PROTOCOL_MAX_BYTES,
            timeout_graceful_shutdown=max(1, int(settings.serve_drain_seconds)),
        )
    )
    stopping = asyncio.Event()
    try:
        await gateway.start_channels()
        async with asyncio.TaskGroup() as tasks:
            http = tasks.create_task(server.serve(), name="http")
            tasks.create_task(gateway.run_workers(stopping), name="workers")
            ready = tasks.create_task(server.ready.wait())
            done, _ = await asyncio.wait({http, ready}, return_when=asyncio.FIRST_COMPLETED)
            if ready in done and on_ready is not None:
                on_ready(Listening(settings.http_host, server.bound_port(), tuple(gateway.channels)))
            await _first_of(shutdown, http)
            log.info("shutting down: draining")
            for channel in gateway.channels.values():
                await channel.aclose()  # closes web-chat sockets so uvicorn can stop promptly
            server.should_exit = True
            await http
            stopping.set()
    finally:
        await gateway.aclose()


async def _first_of(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
