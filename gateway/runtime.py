"""One gateway process's parts, wired together: storage, responder, pipeline, channels, outbox.

:class:`Gateway` is what ``gateway serve`` runs and what the end-to-end tests start in-process.
It owns no HTTP server (``gateway/serve.py`` adds that), so the same object also backs the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from channels.base import Capabilities, Channel, ChannelContext
from channels.registry import enabled_channel_classes
from gateway.metrics import Metrics
from gateway.outbox import OutboxWorker
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from gateway.store.db import create_engine, create_session_factory
from gateway.store.migrate import upgrade_to_head
from responder.kb_files import load_kb_files
from responder.kb_store import import_kb
from responder.service import Responder

log = logging.getLogger(__name__)


class Gateway:
    """The running parts of one process. Use :meth:`open`, then :meth:`run_workers`, then :meth:`aclose`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        self.session_factory = create_session_factory(self.engine)
        self.metrics = Metrics()
        self.responder = Responder()
        self.outbox = OutboxWorker(
            settings, self.engine, self.session_factory, lambda: self.channels, self.metrics
        )
        self.pipeline = Pipeline(
            self.session_factory,
            self.responder,
            self.metrics,
            self.outbox.notify,
            capabilities=self.capabilities,
            queue_reply_hours=settings.responder_queue_reply_hours,
            public_url=settings.public_url,
        )
        context = ChannelContext(session_factory=self.session_factory, metrics=self.metrics)
        self.channels: dict[str, Channel] = {}
        for cls in enabled_channel_classes(settings.channels_enabled, settings.channels_plugins):
            channel = cls.from_config(settings, context)
            if channel is not None:
                self.channels[channel.name] = channel

    def capabilities(self, channel_name: str) -> Capabilities:
        """What ``channel_name`` can carry (plain defaults for a channel not running here)."""
        channel = self.channels.get(channel_name)
        return channel.capabilities if channel is not None else Capabilities()

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Gateway:
        """Build the parts, apply migrations, import start-up KB files and load the responder."""
        gateway = cls(settings)
        try:
            if migrate:
                await upgrade_to_head(gateway.engine)
            if settings.kb_import_on_start:
                await gateway.import_kb_files([Path(p) for p in settings.kb_import_on_start])
            await gateway.responder.reload(gateway.session_factory)
        except BaseException:
            await gateway.engine.dispose()
            raise
        return gateway

    async def import_kb_files(self, paths: list[Path]) -> None:
        kb = await asyncio.to_thread(load_kb_files, paths)
        async with self.session_factory() as session, session.begin():
            report = await import_kb(session, kb)
        log.info("knowledge base imported: %s", report)

    async def start_channels(self) -> None:
        for channel in self.channels.values():
            await channel.start(self.pipeline.accept)

    async def run_workers(self, stopping: asyncio.Event) -> None:
        """Run the decision loop and the outbox worker until ``stopping`` is set, then drain.

        Draining: inquiries already accepted are decided, replies already claimed are sent,
        each bounded by ``serve_drain_seconds``; what is left stays committed for the next start.
        """
        recovered = await self.pipeline.recover()
        if recovered:
            log.info("re-queued %d inquiries accepted before the last stop", recovered)
        async with asyncio.TaskGroup() as tasks:
            deciding = tasks.create_task(self.pipeline.run(), name="pipeline")
            sending = tasks.create_task(self.outbox.run(), name="outbox")
            await stopping.wait()
            drain = self.settings.serve_drain_seconds
            try:
                await asyncio.wait_for(self.pipeline.drain(), drain)
            except TimeoutError:
                log.warning("drain: undecided inquiries left for the next start")
            deciding.cancel()
            self.outbox.stop()
            try:
                await asyncio.wait_for(asyncio.shield(sending), drain)
            except TimeoutError:
                log.warning("drain: sends still in flight were interrupted; they will be retried")
                sending.cancel()

    async def aclose(self) -> None:
        for channel in self.channels.values():
            try:
                await channel.aclose()
            except Exception:
                log.exception("closing channel %s failed", channel.name)
        await self.engine.dispose()
