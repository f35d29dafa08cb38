"""The local Kafka broker: start, produce/consume with the platform's settings, restart keeping data."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata

from services.common.kafka_local import LocalKafka, ensure_jars, free_port

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    kafka = LocalKafka(
        tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port(), heap="256m"
    )
    kafka.start()
    yield kafka
    kafka.stop()


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = _producer(bootstrap)
    try:
        for v in values:
            producer.send(topic, value=v, key=b"k").get(timeout=30)
    finally:
        producer.close(timeout=5)


def _consume_and_commit(
    bootstrap: str, topic: str, group: str, count: int, timeout: float = 30
) -> list[bytes]:
    """Read exactly `count` records, committing each batch after it is "handled", as services do."""
    consumer = _consumer(bootstrap, topic, group)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                got.extend(r.value for r in records)
                consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1)})
        # Nothing beyond what was expected arrives.
        extra = consumer.poll(timeout_ms=500)
        got.extend(r.value for records in extra.values() for r in records)
    finally:
        consumer.close()
    return got


def test_start_is_idempotent_and_jars_are_cached(broker: LocalKafka) -> None:
    t0 = time.monotonic()
    libs = ensure_jars()
    assert time.monotonic() - t0 < 2
    assert any(libs.glob("kafka_2.13-*.jar"))

    pid = broker.pid_file.read_text()
    assert broker.is_running()
    assert broker.start() == broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert broker.pid_file.read_text() == pid  # adopted, not a second broker

    other = LocalKafka(broker.state_dir, port=broker.port, controller_port=broker.controller_port)
    assert other.is_running()  # another handle on the same state_dir sees it through the pid file
    assert LocalKafka(broker.state_dir.parent / "nothing-here").is_running() is False


def test_messages_and_offsets_survive_restart(broker: LocalKafka) -> None:
    topic = f"gristmill.test.kafka-local-{uuid.uuid4().hex[:8]}.v1"
    group = "gristmill-test"
    first = [f"m{i}".encode() for i in range(10)]

    _produce(broker.bootstrap, topic, first)  # auto-creates the topic
    assert _consume_and_commit(broker.bootstrap, topic, group, len(first)) == first

    broker.stop()
    assert not broker.is_running()
    assert not broker.pid_file.exists()
    broker.stop()  # no-op when stopped

    broker.start()
    assert broker.is_running()

    # The log survived: a fresh group reads everything from the start.
    assert _consume_and_commit(broker.bootstrap, topic, f"{group}-fresh", len(first)) == first

    # Committed offsets survived: the old group gets only what is produced now.
    second = [f"n{i}".encode() for i in range(5)]
    _produce(broker.bootstrap, topic, second)
    assert _consume_and_commit(broker.bootstrap, topic, group, len(second)) == second


def test_free_port_is_bindable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))
