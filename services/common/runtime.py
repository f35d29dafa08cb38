"""Wiring shared by every service: settings -> logs, stores, bus, gRPC server, metrics.

A service's server.py builds its domain objects from a `Runtime`, registers its servicer and
consumers, and calls `serve()`; `__main__` blocks on `run_until_signal`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from google.protobuf.message import Message

from services.common import logs
from services.common.artifacts import ArtifactStore
from services.common.bus import Consumer, Handler, Publisher
from services.common.config import Settings
from services.common.grpc_server import Registration, RunningServer, start_server
from services.common.metrics import serve_metrics
from services.common.store import Store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    artifacts: ArtifactStore
    publisher: Publisher
    consumers: list[Consumer] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings, base=None, configure_logging: bool = False) -> Runtime:
        if configure_logging:
            logs.setup(settings.service, settings.log_level)
        store = Store(settings.database_url, base)
        artifacts = ArtifactStore(settings.artifact_uri, settings.s3_endpoint_url)
        publisher = Publisher(store, settings.kafka_bootstrap, settings.service)
        return cls(settings, store, artifacts, publisher)

    def consume(self, handlers: dict[type[Message], Handler], group_suffix: str = "") -> Consumer:
        group = f"gristmill-{self.settings.service}{group_suffix}"
        consumer = Consumer(self.store, self.settings.kafka_bootstrap, group, handlers)
        self.consumers.append(consumer)
        return consumer

    def serve(self, registrations: list[Registration]) -> RunningServer:
        s = self.settings
        self.publisher.start_relay()
        for c in self.consumers:
            c.start()
        serve_metrics(s.metrics_port, s.host)
        running = start_server(s.service, registrations, host=s.host, port=s.port, grace=s.grace_seconds,
                               max_message_mb=s.max_message_mb)
        running.on_stop(self.close)
        return running

    def close(self) -> None:
        for c in self.consumers:
            c.stop()
        self.publisher.close()
        self.store.engine.dispose()
