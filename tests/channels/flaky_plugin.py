"""A test channel whose provider fails on command: for outbox retry and dead-letter tests.

Its "provider" is an in-process list of deliveries; failures are scripted per recipient, so
tests exercise the gateway's real outbox against a channel that behaves like a flaky provider.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from channels.base import Capabilities, Channel, ChannelContext, Manifest, OutboundMessage, SendResult
from gateway.errors import PermanentSendError, RetryableSendError
from gateway.settings import Settings


class FlakyChannel(Channel):
    MANIFEST = Manifest(name="flaky", title="Flaky test provider", capabilities=Capabilities())

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        self.delivered: list[OutboundMessage] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self.retryable_failures: dict[str, int] = {}
        self.permanent: set[str] = set()
        self.changed = asyncio.Condition()

    async def send(self, message: OutboundMessage) -> SendResult:
        self.attempts[message.recipient] += 1
        try:
            if message.recipient in self.permanent:
                raise PermanentSendError("recipient does not exist", code="550")
            if self.retryable_failures.get(message.recipient, 0) > 0:
                self.retryable_failures[message.recipient] -= 1
                raise RetryableSendError("provider answered 503", code="503")
            self.delivered.append(message)
            return SendResult(provider_message_id=f"flaky-{message.idempotency_key}")
        finally:
            async with self.changed:
                self.changed.notify_all()
