"""Prometheus metrics, one registry per app so tests and several apps never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "nongbot_inbound_messages", "Inbound messages by channel and outcome",
            ["channel", "status"], registry=self.registry,
        )
        self.outbound = Counter(
            "nongbot_outbound_messages", "Outbound messages by channel and result",
            ["channel", "status"], registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "nongbot_handler_seconds", "Time to produce a reply, by handler",
            ["handler"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
