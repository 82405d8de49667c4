"""Prometheus metrics of one gateway process, in a registry of its own (one per app instance,
so tests can run several gateways in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """The gateway's counters and gauges; see ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inquiries = Counter(
            "gateway_inquiries",
            "Inquiries decided, by channel and decision",
            ["channel", "decision"],
            registry=self.registry,
        )
        self.inbound_duplicates = Counter(
            "gateway_inbound_duplicates",
            "Inbound messages dropped as duplicates",
            ["channel"],
            registry=self.registry,
        )
        self.outbound_sent = Counter(
            "gateway_outbound_sent",
            "Outbound messages handed to their channel",
            ["channel"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            "gateway_send_failures",
            "Failed send attempts (kind: retry or dead)",
            ["channel", "kind"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "gateway_outbox_depth",
            "Outbox rows by status (read from the database at scrape time)",
            ["status"],
            registry=self.registry,
        )
        self.webchat_connections = Gauge(
            "gateway_webchat_connections",
            "Open web-chat sockets",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
