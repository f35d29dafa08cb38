"""Kafka helpers for tests that drive services by their events and watch what they emit."""

from __future__ import annotations

import time

from kafka import KafkaConsumer

from services.common.bus import TOPICS, headers_of


def publish(producer, event) -> None:
    """Send one event the way the bus does (topic by type, project key, metadata headers) and wait for the ack."""
    producer.send(TOPICS[type(event)], value=event.SerializeToString(), key=event.meta.project.encode(),
                  headers=headers_of(event)).get(timeout=30)


class Topic:
    """The events of one type, read from the start of their topic as they come."""

    def __init__(self, bootstrap: str, cls) -> None:
        self.cls = cls
        self.consumer = KafkaConsumer(TOPICS[cls], bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        self.seen: list = []

    def wait_for(self, match, timeout: float = 300.0):
        """The newest event seen that matches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = [e for e in self.seen if match(e)]
            if hit:
                return hit[-1]
            for recs in self.consumer.poll(timeout_ms=300).values():
                self.seen += [self.cls.FromString(r.value) for r in recs]
        raise AssertionError(f"no matching {self.cls.__name__} among {len(self.seen)} seen")

    def close(self) -> None:
        self.consumer.close()
