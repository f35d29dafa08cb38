"""Evaluation on a real Kafka broker: ModelTrained -> automatic evaluation -> ModelEvaluated, gated
against the live model learned from ModelDeployed; tuning trials are not gated."""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import pytest
import torch

from gristmill.evaluation.v1 import evaluation_pb2 as epb
from gristmill.evaluation.v1 import evaluation_pb2_grpc as epb_grpc
from gristmill.events.v1 import events_pb2 as ev
from gristmill.training.v1 import training_pb2 as tpb
from gristmill.training.v1 import training_pb2_grpc as tpb_grpc
from services.common.artifacts import ArtifactStore
from services.common.bus import TOPICS, new_meta
from services.evaluation.config import EvaluationSettings
from services.evaluation.server import build as build_evaluation
from services.training import samples
from services.training.config import TrainingSettings
from services.training.server import build as build_training
from tests.integration.test_training_events import read_events, send

pytestmark = pytest.mark.kafka
torch.set_num_threads(1)


def test_model_trained_is_evaluated_and_gated_against_the_live_model(make_settings, kafka_bootstrap, tmp_path):
    project = f"proj-{uuid.uuid4().hex[:6]}"
    training = build_training(make_settings("training", TrainingSettings, executor="inline", torch_threads=1,
                                            kafka_bootstrap=kafka_bootstrap))
    evaluation = build_evaluation(make_settings("evaluation", EvaluationSettings, kafka_bootstrap=kafka_bootstrap,
                                                training_address=f"127.0.0.1:{training.port}"))
    outcomes: dict[str, str] = {}
    changed = threading.Event()
    evaluation.runtime.consumers[0].on_outcome = lambda o: (outcomes.__setitem__(o.event_id, o.result),
                                                            changed.set())
    try:
        t = tpb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{training.port}"))
        e = epb_grpc.EvaluationServiceStub(grpc.insecure_channel(f"127.0.0.1:{evaluation.port}"))
        e.PutGatePolicy(epb.PutGatePolicyRequest(policy=epb.GatePolicy(project=project, metric="f1_macro",
                                                                       threshold=0.8)))
        splits, transform = samples.breast_cancer()
        fs = samples.publish(ArtifactStore(training.domain.settings.artifact_uri), project, "classification", splits,
                             num_classes=2, transform=transform)
        with training.domain.store.session() as s:
            training.domain.on_features_ready(fs, s)

        def train(epochs: float, lr: float, trigger: str = "") -> tpb.Run:
            model = tpb.ModelSpec(architecture="mlp")
            model.params.update({"hidden": [16]})
            run = t.SubmitRun(tpb.SubmitRunRequest(trigger=trigger, spec=tpb.TrainingSpec(
                project=project, feature_set_id=fs.feature_set_id, model=model,
                params=tpb.TrainingParams(epochs=epochs, learning_rate=lr))))
            deadline = time.monotonic() + 180
            while (r := t.GetRun(tpb.GetRunRequest(run_id=run.run_id))).state != tpb.RUN_STATE_SUCCEEDED:
                assert time.monotonic() < deadline and r.state in (tpb.RUN_STATE_QUEUED, tpb.RUN_STATE_RUNNING)
                time.sleep(0.3)
            return r

        good = train(8, 0.01)
        [trained] = read_events(kafka_bootstrap, ev.ModelTrained,
                                lambda x: x.model_version_id == good.model_version_id)
        [evaluated] = read_events(kafka_bootstrap, ev.ModelEvaluated,
                                  lambda x: x.model_version_id == good.model_version_id)
        assert evaluated.passed, evaluated.reasons
        assert evaluated.meta.causation_id == trained.meta.event_id
        assert evaluated.meta.correlation_id == trained.meta.correlation_id
        assert evaluated.feature_set_id == fs.feature_set_id and evaluated.metrics["test_f1_macro"] >= 0.8
        assert {"test_accuracy", "test_roc_auc", "validation_f1_weighted", "train_recall_macro"} <= set(evaluated.metrics)

        # deployment rolls the good model out fully: it becomes the live baseline
        deployed = ev.ModelDeployed(meta=new_meta("deployment", project), deployment_id="dep-1",
                                    model_version_id=good.model_version_id, canary_percent=100)
        send(kafka_bootstrap, tmp_path, deployed)
        deadline = time.monotonic() + 60
        while outcomes.get(deployed.meta.event_id) != "handled":
            assert time.monotonic() < deadline
            changed.wait(1)
            changed.clear()

        weak = train(1, 0.0003)
        [judged] = read_events(kafka_bootstrap, ev.ModelEvaluated, lambda x: x.model_version_id == weak.model_version_id)
        assert not judged.passed and judged.baseline_model_version_id == good.model_version_id
        assert any("does not beat live model" in r and "deployed" in r for r in judged.reasons), judged.reasons

        trial = train(1, 0.01, trigger="study:s-1")
        [trial_event] = read_events(kafka_bootstrap, ev.ModelTrained,
                                    lambda x: x.model_version_id == trial.model_version_id)
        deadline = time.monotonic() + 60
        while outcomes.get(trial_event.meta.event_id) != "handled":
            assert time.monotonic() < deadline
            changed.wait(1)
            changed.clear()
        evaluated_models = {x.model_version_id for x in e.ListEvaluations(epb.ListEvaluationsRequest(
            project=project)).evaluations}
        assert evaluated_models == {good.model_version_id, weak.model_version_id}  # the trial was not gated
        assert TOPICS[ev.ModelEvaluated] == "gristmill.evaluation.model-evaluated.v1"
    finally:
        evaluation.stop()
        training.stop()
