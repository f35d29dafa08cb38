"""Training on a real Kafka broker: FeaturesReady (+ project policy) trains once; ModelTrained goes out."""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import pytest
import torch
from kafka import KafkaConsumer

from gristmill.events.v1 import events_pb2 as ev
from gristmill.training.v1 import training_pb2 as pb
from gristmill.training.v1 import training_pb2_grpc as pb_grpc
from services.common.artifacts import ArtifactStore
from services.common.bus import TOPICS, Publisher
from services.common.store import Store
from services.training import samples
from services.training.config import TrainingSettings
from services.training.server import build

pytestmark = pytest.mark.kafka
torch.set_num_threads(1)


def read_events(bootstrap: str, cls, predicate, count: int = 1, timeout: float = 120.0) -> list:
    consumer = KafkaConsumer(TOPICS[cls], bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    found, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < count:
            for records in consumer.poll(timeout_ms=500).values():
                for rec in records:
                    event = cls.FromString(rec.value)
                    if predicate(event):
                        found.append(event)
    finally:
        consumer.close()
    return found


def send(bootstrap: str, tmp_path, *events) -> None:
    """Publish as another service would: outbox + idempotent producer."""
    store = Store(f"sqlite:///{tmp_path / f'pub-{uuid.uuid4().hex[:6]}.db'}")
    pub = Publisher(store, bootstrap, "preprocessing")
    for event in events:
        with store.session() as s:
            store.add_outbox(s, uuid.uuid4().hex, TOPICS[type(event)], event.meta.project, event.SerializeToString(),
                             [("event_id", event.meta.event_id.encode())])
    pub.flush()
    pub.close()


def test_features_ready_trains_once_and_emits_model_trained(make_settings, kafka_bootstrap, tmp_path):
    project = f"proj-{uuid.uuid4().hex[:6]}"
    settings = make_settings("training", TrainingSettings, executor="inline", kafka_bootstrap=kafka_bootstrap,
                             torch_threads=1)
    running = build(settings)
    outcomes: list = []
    seen = threading.Event()
    consumer = running.runtime.consumers[0]

    def observe(o):
        outcomes.append(o)
        seen.set()

    consumer.on_outcome = observe
    try:
        stub = pb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{running.port}"))
        model = pb.ModelSpec(architecture="mlp")
        model.params.update({"hidden": [32]})
        stub.PutTrainingPolicy(pb.PutTrainingPolicyRequest(policy=pb.TrainingPolicy(
            project=project, auto_train=True, model=model, params=pb.TrainingParams(epochs=3, learning_rate=0.01))))
        artifacts = ArtifactStore(settings.artifact_uri)
        splits, transform = samples.breast_cancer()
        first = samples.publish(artifacts, project, "classification", splits, num_classes=2, transform=transform)
        # the same event twice (a redelivery), then the same feature set announced again under a new event id
        again = ev.FeaturesReady()
        again.CopyFrom(first)
        again.meta.event_id = str(uuid.uuid4())
        send(kafka_bootstrap, tmp_path, first, first, again)

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len([o for o in outcomes if TOPICS[ev.FeaturesReady] == o.topic and
                                                   o.event_id in (first.meta.event_id, again.meta.event_id)]) < 3:
            seen.wait(1)
            seen.clear()
        mine = [(o.event_id, o.result) for o in outcomes if o.event_id in (first.meta.event_id, again.meta.event_id)]
        assert mine == [(first.meta.event_id, "handled"), (first.meta.event_id, "duplicate"),
                        (again.meta.event_id, "handled")]

        runs = list(stub.ListRuns(pb.ListRunsRequest(project=project)).runs)
        assert len(runs) == 1, "a duplicate FeaturesReady must not train twice"
        run = runs[0]
        assert run.trigger == "features-ready" and run.spec.feature_set_id == first.feature_set_id
        assert run.spec.params.epochs == 3 and run.spec.model.architecture == "mlp"

        [trained] = read_events(kafka_bootstrap, ev.ModelTrained, lambda e: e.meta.project == project)
        assert trained.run_id == run.run_id and trained.trigger == "features-ready"
        assert trained.meta.causation_id == first.meta.event_id
        assert trained.meta.correlation_id == first.meta.correlation_id and trained.meta.producer == "training"
        assert trained.metrics["val_accuracy"] > 0.85 and trained.weights.sha256 and trained.model_card.uri
        done = stub.GetRun(pb.GetRunRequest(run_id=run.run_id))
        assert done.state == pb.RUN_STATE_SUCCEEDED and done.model_version_id == trained.model_version_id
        assert artifacts.read_bytes(trained.model_card.uri, trained.model_card.sha256)
        assert len(list(stub.ListRuns(pb.ListRunsRequest(project=project)).runs)) == 1
    finally:
        running.stop()


def test_feature_sets_without_policy_are_recorded_not_trained(make_settings, kafka_bootstrap, tmp_path):
    project = f"proj-{uuid.uuid4().hex[:6]}"
    settings = make_settings("training", TrainingSettings, executor="inline", kafka_bootstrap=kafka_bootstrap,
                             torch_threads=1)
    running = build(settings)
    handled = threading.Event()
    splits, _ = samples.sine_series(n_points=300)
    event = samples.publish(ArtifactStore(settings.artifact_uri), project, "forecasting", splits)
    running.runtime.consumers[0].on_outcome = lambda o: o.event_id == event.meta.event_id and handled.set()
    try:
        send(kafka_bootstrap, tmp_path, event)
        assert handled.wait(120)
        stub = pb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{running.port}"))
        assert list(stub.ListRuns(pb.ListRunsRequest(project=project)).runs) == []
        # the feature set is now known: a run over gRPC finds it (default architecture for [T, 1]: lstm)
        run = stub.SubmitRun(pb.SubmitRunRequest(spec=pb.TrainingSpec(
            project=project, feature_set_id=event.feature_set_id, params=pb.TrainingParams(epochs=1))))
        assert run.state in (pb.RUN_STATE_QUEUED, pb.RUN_STATE_RUNNING)
        deadline = time.monotonic() + 120
        while stub.GetRun(pb.GetRunRequest(run_id=run.run_id)).state != pb.RUN_STATE_SUCCEEDED:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        mv = stub.GetModelVersion(pb.GetModelVersionRequest(
            model_version_id=stub.GetRun(pb.GetRunRequest(run_id=run.run_id)).model_version_id))
        assert mv.architecture == "lstm" and "val_mae" in mv.metrics
    finally:
        running.stop()


def test_drift_retrains_on_fresh_features_only(make_settings, kafka_bootstrap, tmp_path):
    """DriftDetected with retrain_on_drift: nothing fresh -> pending; the next FeaturesReady is the retrain."""
    from services.common.bus import new_meta

    project = f"proj-{uuid.uuid4().hex[:6]}"
    settings = make_settings("training", TrainingSettings, executor="inline", kafka_bootstrap=kafka_bootstrap,
                             torch_threads=1)
    running = build(settings)
    handled: list[str] = []
    running.runtime.consumers[0].on_outcome = lambda o: handled.append(o.event_id)

    def until_handled(event_id: str) -> None:
        deadline = time.monotonic() + 120
        while event_id not in handled:
            assert time.monotonic() < deadline, "event not handled"
            time.sleep(0.2)

    try:
        stub = pb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{running.port}"))
        stub.PutTrainingPolicy(pb.PutTrainingPolicyRequest(policy=pb.TrainingPolicy(
            project=project, auto_train=True, retrain_on_drift=True, model=pb.ModelSpec(architecture="mlp"),
            params=pb.TrainingParams(epochs=1))))
        artifacts = ArtifactStore(settings.artifact_uri)
        splits, transform = samples.breast_cancer()
        first = samples.publish(artifacts, project, "classification", splits, num_classes=2, transform=transform)
        send(kafka_bootstrap, tmp_path, first)
        until_handled(first.meta.event_id)
        drift = ev.DriftDetected(meta=new_meta("monitoring", project), model_name=project, drift_share=0.8)
        send(kafka_bootstrap, tmp_path, drift)
        until_handled(drift.meta.event_id)
        # the only feature set was trained already: the drift leaves a pending retrain, no second run
        assert len(stub.ListRuns(pb.ListRunsRequest(project=project)).runs) == 1
        policy = stub.GetTrainingPolicy(pb.GetTrainingPolicyRequest(project=project))
        assert policy.retrain_pending
        fresh = samples.publish(artifacts, project, "classification", splits, num_classes=2, transform=transform)
        send(kafka_bootstrap, tmp_path, fresh)
        until_handled(fresh.meta.event_id)
        runs = {r.spec.feature_set_id: r for r in stub.ListRuns(pb.ListRunsRequest(project=project)).runs}
        assert runs[first.feature_set_id].trigger == "features-ready"
        assert runs[fresh.feature_set_id].trigger == "retrain"
        assert not stub.GetTrainingPolicy(pb.GetTrainingPolicyRequest(project=project)).retrain_pending
    finally:
        running.stop()
