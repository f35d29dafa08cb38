"""Prometheus metrics shared by every service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

RPC_SECONDS = Histogram("gristmill_rpc_seconds", "gRPC handling time", ["service", "method", "code"])
EVENTS_PUBLISHED = Counter("gristmill_events_published_total", "Events published to Kafka", ["topic"])
EVENTS_CONSUMED = Counter(
    "gristmill_events_consumed_total", "Events consumed, by outcome", ["group", "topic", "outcome"]
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    if port:
        start_http_server(port, addr=host)
