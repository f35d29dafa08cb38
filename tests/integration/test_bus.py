"""The event bus on a real broker: redelivery, dead-lettering, outbox and broker restarts."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import TOPICS, Consumer, Publisher, dlq_topic, new_meta
from services.common.kafka_local import LocalKafka, free_port
from services.common.store import Store

pytestmark = pytest.mark.kafka


class Base(DeclarativeBase):
    pass


class Seen(Base):
    __tablename__ = "seen"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(String(64))


def event(n: int, project: str) -> ev.DatasetIngested:
    return ev.DatasetIngested(meta=new_meta("test", project), dataset_id="ds", version_id=f"v{n}", num_rows=n)


class Collector:
    """A consumer whose handler records each version in the DB (its side effect)."""

    def __init__(self, store: Store, bootstrap: str, group: str, fail_on: str = "") -> None:
        self.outcomes: list = []
        self.cond = threading.Condition()

        def handle(e, session):
            if e.version_id == fail_on:
                raise RuntimeError("handler cannot cope with this one")
            session.add(Seen(version_id=e.version_id))

        self.consumer = Consumer(store, bootstrap, group, {ev.DatasetIngested: handle}, backoff=0.05)
        self.consumer.on_outcome = self._record

    def _record(self, outcome) -> None:
        with self.cond:
            self.outcomes.append(outcome)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 60) -> list:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.outcomes) >= n, timeout), self.outcomes
            return list(self.outcomes)


def count(store: Store, version_id: str | None = None) -> int:
    with store.session() as s:
        q = select(func.count()).select_from(Seen)
        if version_id:
            q = q.where(Seen.version_id == version_id)
        return s.scalar(q)


def test_same_event_twice_changes_nothing(tmp_path, kafka_bootstrap):
    store = Store(f"sqlite:///{tmp_path}/s.db", Base)
    project = f"p-{time.time_ns()}"
    e = event(1, project)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for _ in range(2):  # a redelivery, as after a crash between side effect and offset commit
        producer.send(TOPICS[ev.DatasetIngested], e.SerializeToString(),
                      headers=[("event_id", e.meta.event_id.encode())]).get(timeout=30)
    producer.close()
    c = Collector(store, kafka_bootstrap, f"g-{project}")
    c.consumer.start()
    try:
        outcomes = [o for o in c.wait(1) if o.event_id == e.meta.event_id]
        deadline = time.monotonic() + 10
        while len(outcomes) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            outcomes = [o for o in c.outcomes if o.event_id == e.meta.event_id]
        assert [o.result for o in outcomes] == ["handled", "duplicate"]
        assert count(store, "v1") == 1
    finally:
        c.consumer.stop()


def test_poison_and_failing_messages_go_to_dead_letter_without_blocking(tmp_path, kafka_bootstrap):
    store = Store(f"sqlite:///{tmp_path}/s.db", Base)
    project = f"p-{time.time_ns()}"
    group = f"g-{project}"
    good, bad = event(2, project), event(3, project)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    topic = TOPICS[ev.DatasetIngested]
    producer.send(topic, b"\x08\x96\x01 definitely not a DatasetIngested", headers=[("event_id", b"poison")])
    producer.send(topic, bad.SerializeToString())
    producer.send(topic, good.SerializeToString())
    producer.flush()
    producer.close()
    c = Collector(store, kafka_bootstrap, group, fail_on="v3")
    c.consumer.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and count(store, "v2") == 0:
            time.sleep(0.1)
        assert count(store, "v2") == 1, "a poison message must not block the partition"
        assert count(store, "v3") == 0
        dlq = KafkaConsumer(dlq_topic(group), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                            consumer_timeout_ms=5000)
        dead = [{k: v.decode() for k, v in r.headers} for r in dlq]
        dlq.close()
        errors = sorted(d["dlq_error"].split(":")[0] for d in dead)
        assert len(dead) == 2, dead
        assert any("unparseable DatasetIngested" in d["dlq_error"] for d in dead)
        assert any("handler cannot cope" in d["dlq_error"] and d["event_id"] == bad.meta.event_id for d in dead)
        assert all(d["dlq_topic"] == topic for d in dead), errors
    finally:
        c.consumer.stop()


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_no_event(tmp_path):
    broker = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    bootstrap = broker.start()
    producer_store = Store(f"sqlite:///{tmp_path}/producer.db")
    consumer_store = Store(f"sqlite:///{tmp_path}/consumer.db", Base)
    publisher = Publisher(producer_store, bootstrap, "test", relay_interval=0.2)
    publisher.start_relay()
    c = Collector(consumer_store, bootstrap, "g-restart")
    c.consumer.start()
    n = 40
    try:
        for i in range(n):
            if i == n // 2:
                broker.stop()  # events staged now wait in the outbox
            with producer_store.session() as s:
                publisher.stage(s, event(i, "restart"))
            if i == n // 2 + 5:
                broker.start()
            try:
                publisher.flush(timeout=2, wait_lock=0)
            except Exception:  # noqa: BLE001 - broker down: the relay retries
                pass
        deadline = time.monotonic() + 120
        while count(consumer_store) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count(consumer_store) == n
        # an event re-sent after an unconfirmed send is recognised by its id, not handled twice
        assert sum(o.result == "handled" for o in c.outcomes) == n
        assert {f"v{i}" for i in range(n)} == {o for (o,) in consumer_store.engine.connect().execute(
            select(Seen.version_id))}
        assert producer_store.pending_outbox() == []
    finally:
        c.consumer.stop()
        publisher.close()
        broker.stop()
