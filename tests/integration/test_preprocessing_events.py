"""DatasetLabeled on the real broker -> the service builds the feature set -> FeaturesReady; a redelivered or
repeated event for the same dataset version builds nothing more."""

from __future__ import annotations

import importlib.util
import io
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, TopicPartition
from PIL import Image

from gristmill.events.v1 import events_pb2 as ev
from gristmill.preprocessing.v1 import preprocessing_pb2 as pb
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pb_grpc
from services.common import bus
from services.common.artifacts import ArtifactStore
from services.common.bus import TOPICS, Outcome, ensure_topics, make_producer
from services.common.features import FittedTransform
from services.common.grpc_server import channel_options
from services.preprocessing.config import PreprocessingSettings
from services.preprocessing.server import wire

pytestmark = pytest.mark.kafka


def digits_parquet(n: int = 60) -> tuple[bytes, np.ndarray]:
    """The first n scikit-learn digits as 8x8 grayscale PNGs with string labels (read from sklearn's data
    file; importing sklearn takes seconds)."""
    csv = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(csv, delimiter=",", max_rows=n)
    pixels = np.round(data[:, :-1].reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    pngs = []
    for p in pixels:
        buf = io.BytesIO()
        Image.fromarray(p).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    labels = [str(int(v)) for v in data[:, -1]]
    out = io.BytesIO()
    pq.write_table(pa.table({"image": pa.array(pngs, pa.binary()), "label": labels}), out)
    return out.getvalue(), pixels


class Outcomes:
    def __init__(self) -> None:
        self.items: list[Outcome] = []
        self.cv = threading.Condition()

    def __call__(self, outcome: Outcome) -> None:
        with self.cv:
            self.items.append(outcome)
            self.cv.notify_all()

    def wait(self, event_id: str, count: int = 1, timeout: float = 60.0) -> str:
        """The result of the count-th processing of event_id."""
        def seen() -> list[str]:
            return [o.result for o in self.items if o.event_id == event_id]

        with self.cv:
            ok = self.cv.wait_for(lambda: len(seen()) >= count, timeout)
            assert ok, f"event {event_id} was not processed {count} time(s) within {timeout}s"
            return seen()[count - 1]


def publish(bootstrap: str, event: ev.DatasetLabeled) -> None:
    producer = make_producer(bootstrap, "test-labeling")
    try:
        producer.send(TOPICS[ev.DatasetLabeled], value=event.SerializeToString(), key=event.meta.project.encode(),
                      headers=[("event_id", event.meta.event_id.encode())]).get(timeout=30)
    finally:
        producer.close(timeout=5)


def ready_events(bootstrap: str, correlation_id: str, want: int, timeout: float, settle: float = 0.0
                 ) -> list[ev.FeaturesReady]:
    """FeaturesReady events of one lifecycle run, read from the start of the topic."""
    tp = TopicPartition(TOPICS[ev.FeaturesReady], 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    found: list[ev.FeaturesReady] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                found += [e for e in map(ev.FeaturesReady.FromString, (r.value for r in records))
                          if e.meta.correlation_id == correlation_id]
            if len(found) >= want:
                deadline = min(deadline, time.monotonic() + settle)
    finally:
        consumer.close()
    return found


@pytest.fixture
def service(make_settings, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, [TOPICS[ev.FeaturesReady], TOPICS[ev.DatasetLabeled]])
    settings = make_settings("preprocessing", PreprocessingSettings, kafka_bootstrap=kafka_bootstrap,
                             decode_threads=1)
    rt, domain, registrations = wire(settings)
    outcomes = Outcomes()
    rt.consumers[0].on_outcome = outcomes
    running = rt.serve(registrations)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield pb_grpc.PreprocessingServiceStub(channel), ArtifactStore(settings.artifact_uri), outcomes
    channel.close()
    running.stop()


def test_dataset_labeled_builds_features_once(service, kafka_bootstrap):
    stub, store, outcomes = service
    project = f"digits-{time.monotonic_ns()}"
    spec = pb.FeatureSpec(project=project, scaling=pb.SCALING_STANDARD,
                          split=pb.Split(train=0.6, validation=0.2, test=0.2, seed=7, stratify=True))
    stub.PutFeatureSpec(pb.PutFeatureSpecRequest(spec=spec))
    data, pixels = digits_parquet()
    artifact = store.put_bytes(data, "application/vnd.apache.parquet")

    def labeled(version: str = "dv-digits") -> ev.DatasetLabeled:
        e = ev.DatasetLabeled(meta=bus.new_meta("labeling", project, correlation_id=f"corr-{project}"),
                              job_id="job-1", dataset_id="ds-digits", version_id=version, num_rows=60)
        e.schema.label_column = "label"
        e.data.uri, e.data.sha256, e.data.size_bytes = artifact.uri, artifact.sha256, artifact.size_bytes
        return e

    event = labeled()
    publish(kafka_bootstrap, event)
    assert outcomes.wait(event.meta.event_id) == "handled"
    [ready] = ready_events(kafka_bootstrap, f"corr-{project}", want=1, timeout=30)
    assert dict(ready.split_rows) == {"train": 36, "validation": 12, "test": 12}
    assert list(ready.input_shape) == [1, 8, 8] and ready.num_classes == 10 and ready.task == 1
    assert ready.dataset_version_id == "dv-digits" and ready.meta.causation_id == event.meta.event_id
    assert ready.meta.producer == "preprocessing" and ready.meta.project == project

    # The artifacts the event points at are what training and serving will read.
    t = FittedTransform.from_json(store.read_bytes(ready.transform.uri, ready.transform.sha256))
    with np.load(io.BytesIO(store.read_bytes(ready.train.uri, ready.train.sha256)), allow_pickle=False) as z:
        x, y, index = z["x"], z["y"], z["index"]
    assert x.shape == (36, 1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(t.apply(pixels[index]), x)

    # Redelivery of the same event is skipped by id; a new event for the same version builds nothing new.
    publish(kafka_bootstrap, event)
    assert outcomes.wait(event.meta.event_id, count=2) == "duplicate"
    repeat = labeled()
    publish(kafka_bootstrap, repeat)
    assert outcomes.wait(repeat.meta.event_id) == "handled"
    listed = stub.ListFeatureSets(pb.ListFeatureSetsRequest(project=project)).feature_sets
    assert [f.feature_set_id for f in listed] == [ready.feature_set_id]
    assert len(ready_events(kafka_bootstrap, f"corr-{project}", want=2, timeout=3)) == 1


def test_project_without_a_spec_is_skipped(service, kafka_bootstrap):
    stub, store, outcomes = service
    project = f"nospec-{time.monotonic_ns()}"
    data, _ = digits_parquet(20)
    artifact = store.put_bytes(data)
    e = ev.DatasetLabeled(meta=bus.new_meta("labeling", project), version_id="dv-x")
    e.data.uri, e.data.sha256 = artifact.uri, artifact.sha256
    publish(kafka_bootstrap, e)
    assert outcomes.wait(e.meta.event_id) == "handled"
    assert stub.ListFeatureSets(pb.ListFeatureSetsRequest(project=project)).feature_sets == []
