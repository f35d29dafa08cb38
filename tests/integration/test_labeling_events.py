"""Labeling on the real broker: DatasetIngested -> policy job -> annotators over gRPC -> DatasetLabeled.

The labeling server runs with its consumer on the `kafka_bootstrap` broker (its own consumer group);
events are published the way a producing service does (outbox + flush) and read back with a plain
Kafka consumer.
"""

from __future__ import annotations

import io
import time
import uuid
from types import SimpleNamespace

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, TopicPartition
from PIL import Image

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from gristmill.labeling.v1 import labeling_pb2 as pb
from gristmill.labeling.v1 import labeling_pb2_grpc as pb_grpc
from services.common import bus
from services.common.artifacts import ArtifactStore
from services.common.convert import artifact_ref
from services.common.store import Store
from services.labeling.config import LabelingSettings
from services.labeling.domain import labeled_version_id
from services.labeling.server import build

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LABELED_TOPIC = bus.TOPICS[ev.DatasetLabeled]
DIGITS = [str(d) for d in range(10)]


@pytest.fixture
def labeling(make_settings, kafka_bootstrap, tmp_path):
    bus.ensure_topics(kafka_bootstrap, [bus.TOPICS[ev.DatasetIngested], LABELED_TOPIC])
    settings = make_settings("labeling", LabelingSettings, kafka_bootstrap=kafka_bootstrap, lease_seconds=60,
                             consumer_group_suffix=f"-test-{uuid.uuid4().hex[:8]}")
    running = build(settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    producer_store = Store(f"sqlite:///{tmp_path / 'ingestion.db'}")
    publisher = bus.Publisher(producer_store, kafka_bootstrap, "ingestion")
    yield SimpleNamespace(stub=pb_grpc.LabelingServiceStub(channel), artifacts=ArtifactStore(settings.artifact_uri),
                          publisher=publisher, store=producer_store, bootstrap=kafka_bootstrap)
    publisher.close()
    producer_store.engine.dispose()
    channel.close()
    running.stop()


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), value).save(out, format="PNG")
    return out.getvalue()


def digit_of(image_png: bytes) -> str:
    """What a careful annotator sees: the images are flat gray levels 20 * digit."""
    with Image.open(io.BytesIO(image_png)) as img:
        return str(img.getpixel((0, 0)) // 20)


def parquet_artifact(env, table: pa.Table):
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return env.artifacts.put_bytes(sink.getvalue(), "application/vnd.apache.parquet")


def ingested(project: str, version: str, art, schema: common_pb2.Schema, rows: int, labeled: bool = False,
             ) -> ev.DatasetIngested:
    return ev.DatasetIngested(meta=bus.new_meta("ingestion", project), dataset_id=f"ds-{project}", version_id=version,
                              content_hash=art.sha256, num_rows=rows, schema=schema, data=artifact_ref(art),
                              labeled=labeled, source="upload")


def publish(env, *events: ev.DatasetIngested) -> None:
    with env.store.session() as s:
        for e in events:
            env.publisher.stage(s, e)
    env.publisher.flush()


def redeliver(env, *events: ev.DatasetIngested) -> None:
    """Send records as they are, bypassing the outbox (which rightly refuses an event id twice)."""
    producer = bus.make_producer(env.bootstrap, "test-redeliver")
    try:
        for e in events:
            producer.send(bus.TOPICS[ev.DatasetIngested], value=e.SerializeToString(), key=e.meta.project.encode(),
                          headers=[("event_id", e.meta.event_id.encode())]).get(timeout=30)
    finally:
        producer.close(timeout=5)


def image_dataset(env, digits: list[int]):
    art = parquet_artifact(env, pa.table({"image": pa.array([png(20 * d) for d in digits], pa.binary()),
                                          "id": list(range(len(digits)))}))
    schema = common_pb2.Schema(columns=[
        common_pb2.ColumnSchema(name="image", type=common_pb2.COLUMN_TYPE_BINARY, required=True),
        common_pb2.ColumnSchema(name="id", type=common_pb2.COLUMN_TYPE_INT, required=True)])
    return art, schema


def wait_for(what: str, fn, timeout: float = 60.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def labeled_events(bootstrap: str, project: str, expected: int, timeout: float = 60.0) -> list[ev.DatasetLabeled]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             isolation_level="read_committed")
    try:
        parts = [TopicPartition(LABELED_TOPIC, p) for p in sorted(consumer.partitions_for_topic(LABELED_TOPIC) or {0})]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        found: list[ev.DatasetLabeled] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(found) < expected:
            for records in consumer.poll(timeout_ms=500).values():
                found += [e for e in (ev.DatasetLabeled.FromString(r.value) for r in records) if e.meta.project == project]
        return found
    finally:
        consumer.close()


def jobs_of(env, project: str) -> list[pb.Job]:
    return list(env.stub.ListJobs(pb.ListJobsRequest(project=project, page_size=100)).jobs)


def test_ingested_dataset_is_labeled_through_the_policy(labeling):
    env, project = labeling, f"digits-{uuid.uuid4().hex[:6]}"
    truth = [0, 1, 2, 0, 1, 2, 3, 3]
    env.stub.PutPolicy(pb.PutPolicyRequest(policy=pb.LabelingPolicy(
        project=project, schema=pb.LabelSchema(kind=pb.LABEL_KIND_CLASS, classes=DIGITS), overlap=3,
        min_agreement=0.5, auto_finalize=True)))
    art, schema = image_dataset(env, truth)
    event = ingested(project, "v-1", art, schema, len(truth))
    publish(env, event)
    [job] = wait_for("the policy's job", lambda: jobs_of(env, project))
    assert (job.version_id, job.num_items, job.overlap, job.state) == ("v-1", 8, 3, pb.JOB_STATE_OPEN)
    assert job.correlation_id == event.meta.correlation_id

    # three simulated annotators; the sloppy one always answers "9" on item 5
    answers = {"careful-1": digit_of, "careful-2": digit_of, "sloppy": digit_of}
    completed = None
    for _ in range(10):
        for who, look in answers.items():
            tasks = env.stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id=who, max_tasks=3)).tasks
            for t in tasks:
                assert t.image_png.startswith(b"\x89PNG")
                label = "9" if (who == "sloppy" and t.item_index == 5) else look(t.image_png)
                result = env.stub.SubmitAnnotation(pb.SubmitAnnotationRequest(
                    task_id=t.task_id, annotator_id=who, label=pb.Label(class_name=label)))
                if result.job_completed:
                    completed = result
        if completed:
            break
    assert completed is not None, "the job should finish itself once every item has 3 answers"
    done = env.stub.GetJob(pb.GetJobRequest(job_id=job.job_id))
    assert done.state == pb.JOB_STATE_COMPLETED and done.labeled_version_id == completed.labeled_version_id
    stats = env.stub.GetJobStats(pb.GetJobStatsRequest(job_id=job.job_id))
    assert (stats.annotations, stats.coverage, list(stats.flagged_items)) == (24, 1.0, [5])

    [labeled] = labeled_events(env.bootstrap, project, 1)
    assert (labeled.job_id, labeled.dataset_id, labeled.source_version_id) == (job.job_id, f"ds-{project}", "v-1")
    assert labeled.version_id == done.labeled_version_id == labeled_version_id(f"ds-{project}", labeled.data.sha256)
    assert labeled.num_rows == 8 and labeled.coverage == 1.0 and not labeled.skipped_labeling
    assert labeled.fleiss_kappa == pytest.approx(stats.fleiss_kappa) and labeled.fleiss_kappa > 0.8
    assert labeled.schema.label_column == "label"
    assert [c.name for c in labeled.schema.columns] == ["image", "id", "label"]
    assert labeled.meta.correlation_id == event.meta.correlation_id
    assert labeled.meta.causation_id == event.meta.event_id and labeled.meta.producer == "labeling"
    table = pq.read_table(pa.BufferReader(env.artifacts.read_bytes(labeled.data.uri, labeled.data.sha256)))
    assert table.column("label").to_pylist() == [str(d) for d in truth]
    assert table.column("image").to_pylist() == [png(20 * d) for d in truth]

    # the same event again, and the same version under a new event id: still one job for v-1
    again = ev.DatasetIngested()
    again.CopyFrom(event)
    again.meta.event_id = str(uuid.uuid4())
    redeliver(env, event, again)
    art2, schema2 = image_dataset(env, [4, 5])
    publish(env, ingested(project, "v-2", art2, schema2, 2))        # a sentinel behind them on the partition
    jobs = wait_for("the sentinel's job", lambda: (lambda js: js if len(js) >= 2 else None)(jobs_of(env, project)))
    assert sorted(j.version_id for j in jobs) == ["v-1", "v-2"]


def test_labeled_dataset_skips_labeling_and_unknown_projects_are_ignored(labeling):
    env = labeling
    project, stranger = f"skip-{uuid.uuid4().hex[:6]}", f"nopolicy-{uuid.uuid4().hex[:6]}"
    env.stub.PutPolicy(pb.PutPolicyRequest(policy=pb.LabelingPolicy(
        project=project, schema=pb.LabelSchema(kind=pb.LABEL_KIND_CLASS, classes=["spam", "ham"]),
        skip_if_labeled=True)))
    art = parquet_artifact(env, pa.table({"text": ["win money", "see you at 5"], "label": ["spam", "ham"]}))
    schema = common_pb2.Schema(label_column="label", columns=[
        common_pb2.ColumnSchema(name="text", type=common_pb2.COLUMN_TYPE_STRING),
        common_pb2.ColumnSchema(name="label", type=common_pb2.COLUMN_TYPE_STRING)])
    unlabeled, _ = image_dataset(env, [1])
    ignored = ingested(stranger, "v-x", unlabeled, common_pb2.Schema(), 1)
    event = ingested(project, "v-7", art, schema, 2, labeled=True)
    publish(env, ignored, event)                     # one partition: the stranger's event is handled first
    [labeled] = labeled_events(env.bootstrap, project, 1)
    assert labeled.skipped_labeling and labeled.version_id == labeled.source_version_id == "v-7"
    assert labeled.data.sha256 == art.sha256 and labeled.data.uri == art.uri and labeled.num_rows == 2
    assert labeled.schema.label_column == "label" and labeled.coverage == 1.0
    assert labeled.meta.correlation_id == event.meta.correlation_id
    assert labeled.meta.causation_id == event.meta.event_id
    assert jobs_of(env, project) == [] and jobs_of(env, stranger) == []
