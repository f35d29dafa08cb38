"""The Kafka event bus.

Publishing: `Publisher.stage(session, event)` writes the event to the service's outbox inside the
caller's transaction; the commit wakes a background relay thread, which sends it with an idempotent,
acks=all producer and marks it published (`flush()` does the same synchronously). A committed change therefore always gets
its event, even when the broker is down at that moment.

Consuming: `Consumer` polls with manual commits. For each record it opens a transaction, skips
event ids it has already processed, runs the handler, marks the id processed and commits the
transaction, then commits the offset. A record that cannot be parsed, or whose handler keeps
failing after bounded retries, goes to `<group>.dlq` with the error in its headers and never
blocks the partition.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka.errors import TopicAlreadyExistsError
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from gristmill.events.v1 import events_pb2 as ev
from services.common.metrics import EVENTS_CONSUMED, EVENTS_PUBLISHED
from services.common.store import Store

log = logging.getLogger(__name__)

TOPICS: dict[type[Message], str] = {
    ev.DatasetIngested: "gristmill.datasets.ingested.v1",
    ev.DatasetLabeled: "gristmill.labeling.dataset-labeled.v1",
    ev.FeaturesReady: "gristmill.preprocessing.features-ready.v1",
    ev.ModelTrained: "gristmill.training.model-trained.v1",
    ev.ModelEvaluated: "gristmill.evaluation.model-evaluated.v1",
    ev.ModelDeployed: "gristmill.deployment.model-deployed.v1",
    ev.InferenceLogged: "gristmill.serving.inference-logged.v1",
    ev.DriftDetected: "gristmill.monitoring.drift-detected.v1",
    ev.ModelDegraded: "gristmill.monitoring.model-degraded.v1",
}
BY_TOPIC: dict[str, type[Message]] = {t: cls for cls, t in TOPICS.items()}


def topic_of(event: Message) -> str:
    return TOPICS[type(event)]


def dlq_topic(group_id: str) -> str:
    return f"{group_id}.dlq"


def new_meta(producer: str, project: str, correlation_id: str = "", causation: ev.EventMeta | None = None
             ) -> ev.EventMeta:
    """Metadata for a new event; `causation` carries the correlation id forward."""
    ts = Timestamp()
    ts.GetCurrentTime()
    if causation is not None and not correlation_id:
        correlation_id = causation.correlation_id
    return ev.EventMeta(
        event_id=str(uuid.uuid4()), occurred_at=ts, producer=producer, project=project,
        correlation_id=correlation_id or str(uuid.uuid4()),
        causation_id=causation.event_id if causation is not None else "",
    )


def headers_of(event: Message) -> list[tuple[str, bytes]]:
    m = event.meta
    return [("event_id", m.event_id.encode()), ("event_type", event.DESCRIPTOR.full_name.encode()),
            ("project", m.project.encode()), ("correlation_id", m.correlation_id.encode()),
            ("producer", m.producer.encode())]


def ensure_topics(bootstrap: str, topics: list[str], partitions: int = 1) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gristmill-admin")
    try:
        missing = [t for t in topics if t not in set(admin.list_topics())]
        if missing:
            try:
                # wait_for_metadata: a consumer subscribing right after must see the partitions, or its
                # first assignment leaves the topic out until the next metadata refresh
                admin.create_topics({t: {"num_partitions": partitions, "replication_factor": 1} for t in missing},
                                    wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass  # a concurrent starter won the race
    finally:
        admin.close()


def make_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=True,
        linger_ms=0, retries=2**31 - 1, delivery_timeout_ms=120_000, max_in_flight_requests_per_connection=5,
        reconnect_backoff_ms=200, reconnect_backoff_max_ms=2000,
        bootstrap_timeout_ms=5_000, max_block_ms=10_000,  # a send while the broker is away fails fast; the outbox keeps the event
    )


class Publisher:
    """Outbox-backed publisher for one service."""

    def __init__(self, store: Store, bootstrap: str, producer_name: str, relay_interval: float = 1.0) -> None:
        self.store, self.bootstrap, self.name = store, bootstrap, producer_name
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._interval = relay_interval
        self._thread: threading.Thread | None = None

    def stage(self, session: Session, event: Message, key: str = "") -> None:
        """Add `event` to the outbox in the caller's transaction; the relay sends it right after commit."""
        self.store.add_outbox(session, event.meta.event_id, topic_of(event), key or event.meta.project,
                              event.SerializeToString(), headers_of(event))
        if not session.info.get("gristmill_wake_relay"):
            session.info["gristmill_wake_relay"] = True
            sa_event.listen(session, "after_commit", lambda _s: self._wake.set(), once=True)

    def flush(self, timeout: float = 5.0, wait_lock: float = 1.0) -> int:
        """Send unpublished outbox records in order; returns how many were sent.

        If another flush (usually the relay) is busy for longer than `wait_lock`, leave the records
        to it rather than block the caller: the outbox already made them durable.
        """
        if not self._lock.acquire(timeout=wait_lock):
            return 0
        try:
            sent = 0
            for rec in self.store.pending_outbox():
                if self._producer is None:
                    self._producer = make_producer(self.bootstrap, self.name)
                self._producer.send(rec.topic, value=rec.payload, key=rec.key.encode(),
                                    headers=Store.decode_headers(rec)).get(timeout=timeout)
                self.store.mark_published(rec.id)
                EVENTS_PUBLISHED.labels(rec.topic).inc()
                sent += 1
            return sent
        finally:
            self._lock.release()

    def start_relay(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(self._interval)  # a commit that staged events wakes it at once
                self._wake.clear()
                if self._stop.is_set():
                    break
                try:
                    self.flush()
                except Exception as exc:  # noqa: BLE001 - the broker may be away; retry next tick
                    log.warning("outbox relay failed; will retry", extra={"error": str(exc)})
        self._thread = threading.Thread(target=loop, name=f"{self.name}-outbox", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        try:
            self.flush(timeout=5)
        except Exception:  # noqa: BLE001 - left in the outbox for the next start
            log.warning("outbox not fully flushed at shutdown")
        if self._producer is not None:
            self._producer.close(timeout=5)


Handler = Callable[[Message, Session], None]


@dataclass
class Outcome:
    event_id: str
    topic: str
    result: str  # handled | duplicate | dead-lettered


class Consumer:
    """Manual-commit consumer with per-event idempotency and a dead-letter topic."""

    def __init__(self, store: Store, bootstrap: str, group_id: str, handlers: dict[type[Message], Handler],
                 max_attempts: int = 3, backoff: float = 0.5) -> None:
        self.store, self.bootstrap, self.group_id = store, bootstrap, group_id
        self.handlers = {TOPICS[cls]: (cls, fn) for cls, fn in handlers.items()}
        self.max_attempts, self.backoff = max_attempts, backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dlq: KafkaProducer | None = None
        self.on_outcome: Callable[[Outcome], None] | None = None  # observed by tests and the CLI

    def start(self) -> None:
        ensure_topics(self.bootstrap, [*self.handlers, dlq_topic(self.group_id)])
        self._thread = threading.Thread(target=self._run, name=f"{self.group_id}-consumer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
        if self._dlq is not None:
            self._dlq.close(timeout=5)

    def _run(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id,
            client_id=self.group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level="read_committed", max_poll_records=50, session_timeout_ms=30_000,
            heartbeat_interval_ms=3_000, reconnect_backoff_ms=200, reconnect_backoff_max_ms=2000,
            metadata_max_age_ms=5_000,  # a topic created by another service joins the assignment quickly
        )
        # Subscribe only once every topic's partitions are known: the group's first assignment otherwise
        # leaves out a topic created moments before, and it may stay out.
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline and any(
                not consumer.partitions_for_topic(t) for t in self.handlers):
            time.sleep(0.2)
        consumer.subscribe(list(self.handlers))
        try:
            while not self._stop.is_set():
                try:
                    batches = consumer.poll(timeout_ms=300)
                except Exception as exc:  # noqa: BLE001 - broker away: keep polling, it reconnects
                    log.warning("poll failed", extra={"error": str(exc)})
                    time.sleep(1)
                    continue
                for tp, records in batches.items():
                    for rec in records:
                        self._process(rec)
                        self._commit(consumer, tp, rec.offset + 1)
        finally:
            consumer.close(autocommit=False)

    def _commit(self, consumer: KafkaConsumer, tp, offset: int) -> None:
        # Keep trying: an uncommitted offset only means a redelivery, which is idempotent.
        for attempt in range(5):
            try:
                consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
                return
            except Exception as exc:  # noqa: BLE001
                log.warning("offset commit failed", extra={"error": str(exc), "attempt": attempt})
                time.sleep(0.5 * (attempt + 1))

    def _process(self, rec) -> None:
        headers = {k: v for k, v in (rec.headers or [])}
        event_id = headers.get("event_id", b"").decode(errors="replace")
        cls, handler = self.handlers[rec.topic]
        try:
            event = cls.FromString(rec.value)
            if not event.meta.event_id:
                raise ValueError("event has no meta.event_id")
            event_id = event.meta.event_id
        except (DecodeError, ValueError) as exc:
            return self._dead_letter(rec, event_id, f"unparseable {cls.__name__}: {exc}")
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.store.session() as s:
                    if self.store.already_processed(s, self.group_id, event_id):
                        return self._observe(event_id, rec.topic, "duplicate")
                    handler(event, s)
                    self.store.mark_processed(s, self.group_id, event_id)
                self._observe(event_id, rec.topic, "handled")
                return None
            except Exception as exc:  # noqa: BLE001 - retried, then dead-lettered
                error = f"{type(exc).__name__}: {exc}"
                log.warning("handler failed", extra={"event_id": event_id, "attempt": attempt, "error": error})
                if getattr(exc, "permanent", False):
                    break
                time.sleep(self.backoff * attempt)
        return self._dead_letter(rec, event_id, error)

    def _dead_letter(self, rec, event_id: str, error: str) -> None:
        if self._dlq is None:
            self._dlq = make_producer(self.bootstrap, f"{self.group_id}-dlq")
        headers = list(rec.headers or [])
        if event_id and not any(k == "event_id" for k, _ in headers):
            headers.append(("event_id", event_id.encode()))
        headers += [
            ("dlq_error", error.encode()[:4000]), ("dlq_topic", rec.topic.encode()),
            ("dlq_partition", str(rec.partition).encode()), ("dlq_offset", str(rec.offset).encode()),
        ]
        self._dlq.send(dlq_topic(self.group_id), value=rec.value, key=rec.key, headers=headers).get(timeout=60)
        log.error("dead-lettered", extra={"event_id": event_id, "topic": rec.topic, "error": error})
        self._observe(event_id, rec.topic, "dead-lettered")

    def _observe(self, event_id: str, topic: str, result: str) -> None:
        EVENTS_CONSUMED.labels(self.group_id, topic, result).inc()
        if self.on_outcome:
            self.on_outcome(Outcome(event_id, topic, result))
