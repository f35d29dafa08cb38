"""EvaluationService over real gRPC, with a real TrainingService behind it (models, trial runs)."""

from __future__ import annotations

import time

import grpc
import pytest
import torch
from google.protobuf.struct_pb2 import Struct

from gristmill.evaluation.v1 import evaluation_pb2 as epb
from gristmill.evaluation.v1 import evaluation_pb2_grpc as epb_grpc
from gristmill.training.v1 import training_pb2 as tpb
from gristmill.training.v1 import training_pb2_grpc as tpb_grpc
from services.common.artifacts import ArtifactStore
from services.common.kafka_local import free_port
from services.evaluation.config import EvaluationSettings
from services.evaluation.server import build as build_evaluation
from services.training import samples
from services.training.config import TrainingSettings
from services.training.server import build as build_training

pytestmark = pytest.mark.kafka
torch.set_num_threads(1)
_DOMAINS: dict = {}


def _training_domain(services):
    return _DOMAINS[id(services[0])]


@pytest.fixture
def services(make_settings, kafka_bootstrap):
    training = build_training(make_settings("training", TrainingSettings, executor="inline", consume_events=False,
                                            kafka_bootstrap=kafka_bootstrap, torch_threads=1,
                                            max_concurrent_runs=2))
    evaluation = build_evaluation(make_settings("evaluation", EvaluationSettings, consume_events=False,
                                                kafka_bootstrap=kafka_bootstrap,
                                                training_address=f"127.0.0.1:{training.port}"))
    artifacts = ArtifactStore(training.domain.settings.artifact_uri)
    splits, transform = samples.digits(n=500)
    event = samples.publish(artifacts, "p", "classification", splits, num_classes=10, transform=transform)
    with training.domain.store.session() as s:
        training.domain.on_features_ready(event, s)
    t = tpb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{training.port}"))
    e = epb_grpc.EvaluationServiceStub(grpc.insecure_channel(f"127.0.0.1:{evaluation.port}"))
    _DOMAINS[id(t)] = (artifacts, training.domain)
    yield t, e, event.feature_set_id
    _DOMAINS.pop(id(t), None)
    evaluation.stop()
    training.stop()


def train(t, fs, arch="mlp", params=None, **hp) -> str:
    model = tpb.ModelSpec(architecture=arch)
    model.params.update(params if params is not None else {"hidden": [32]})
    p = {"epochs": 4, "learning_rate": 0.01, "batch_size": 32, **hp}
    run = t.SubmitRun(tpb.SubmitRunRequest(spec=tpb.TrainingSpec(project="p", feature_set_id=fs, model=model,
                                                                  params=tpb.TrainingParams(**p))))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        r = t.GetRun(tpb.GetRunRequest(run_id=run.run_id))
        if r.state == tpb.RUN_STATE_SUCCEEDED:
            return r.model_version_id
        assert r.state in (tpb.RUN_STATE_QUEUED, tpb.RUN_STATE_RUNNING), r.message
        time.sleep(0.2)
    raise AssertionError("training did not finish")


def code_of(fn, req) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        fn(req)
    return e.value.code(), e.value.details()


def struct(d: dict) -> Struct:
    s = Struct()
    s.update(d)
    return s


def test_error_paths(services):
    t, e, fs = services
    assert code_of(e.Evaluate, epb.EvaluateRequest(project="p"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    code, details = code_of(e.Evaluate, epb.EvaluateRequest(project="p", model_version_id="mv-nope"))
    assert code == grpc.StatusCode.NOT_FOUND and "mv-nope" in details
    assert code_of(e.GetEvaluation, epb.GetEvaluationRequest(evaluation_id="ev-x"))[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(e.ListEvaluations, epb.ListEvaluationsRequest(page_token="bad"))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(e.GetGatePolicy, epb.GetGatePolicyRequest(project="p"))[0] == grpc.StatusCode.NOT_FOUND
    for bad in (epb.GatePolicy(project="p", split="train"), epb.GatePolicy(project="p", direction="up"),
                epb.GatePolicy(project="p", min_improvement=-1), epb.GatePolicy(metric="accuracy")):
        assert code_of(e.PutGatePolicy, epb.PutGatePolicyRequest(policy=bad))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(e.PutGatePolicy, epb.PutGatePolicyRequest())[0] == grpc.StatusCode.INVALID_ARGUMENT

    space = struct({"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}})
    ok = dict(project="p", feature_set_id=fs, space=space, trials=2, sampler="random")
    code, details = code_of(e.StartStudy, epb.StartStudyRequest(**{**ok, "feature_set_id": "fs-nope"}))
    assert code == grpc.StatusCode.NOT_FOUND and "fs-nope" in details
    for bad in ({"sampler": "grid"}, {"trials": 1000}, {"parallelism": 50}, {"metric": "accuracy"},
                {"space": struct({"lr": {"low": 0.1, "high": 1}})}, {"space": struct({})}, {"pruner": "hyperband"},
                {"base": struct({"params": {"optimizer": "rprop"}})}, {"base": struct({"data": {}})}):
        code, details = code_of(e.StartStudy, epb.StartStudyRequest(**{**ok, **bad}))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (bad, details)
    assert code_of(e.GetStudy, epb.GetStudyRequest(study_id="study-x"))[0] == grpc.StatusCode.NOT_FOUND
    assert list(t.ListRuns(tpb.ListRunsRequest()).runs) == []  # no trial was left running
    assert list(e.ListEvaluations(epb.ListEvaluationsRequest()).evaluations) == []


def test_training_unreachable_is_unavailable(make_settings, kafka_bootstrap):
    srv = build_evaluation(make_settings("evaluation", EvaluationSettings, consume_events=False,
                                         kafka_bootstrap=kafka_bootstrap, rpc_timeout_seconds=3,
                                         training_address=f"127.0.0.1:{free_port()}"))
    try:
        e = epb_grpc.EvaluationServiceStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
        code, details = code_of(e.Evaluate, epb.EvaluateRequest(model_version_id="mv-1"))
        assert code == grpc.StatusCode.UNAVAILABLE and "training service" in details
    finally:
        srv.stop()


def test_metrics_diagnosis_and_gate(services):
    t, e, fs = services
    good = train(t, fs, epochs=6, learning_rate=0.01)
    first = e.Evaluate(epb.EvaluateRequest(project="p", model_version_id=good))
    splits = {s.split: s for s in first.splits}
    assert set(splits) == {"train", "validation", "test"}
    test = splits["test"]
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
                "f1_weighted", "roc_auc", "log_loss"):
        assert key in test.metrics, key
    assert test.num_classes == 10 and len(test.confusion_matrix) == 100 and sum(test.confusion_matrix) == 75
    assert first.diagnosis.verdict in ("good_fit", "overfitting", "underfitting") and first.diagnosis.evidence
    assert first.passed and first.gate_metric == "accuracy" and first.gate_split == "test"
    assert first.candidate_value == pytest.approx(test.metrics["accuracy"])
    assert any("no live model" in r for r in first.reasons)
    assert e.GetEvaluation(epb.GetEvaluationRequest(evaluation_id=first.evaluation_id)).passed

    weak = train(t, fs, epochs=1, learning_rate=0.0005)
    second = e.Evaluate(epb.EvaluateRequest(project="p", model_version_id=weak))
    assert not second.passed and second.baseline_model_version_id == good
    assert second.baseline_value == pytest.approx(first.candidate_value)
    assert any("does not beat" in r and "same test split" in r for r in second.reasons)
    assert second.diagnosis.verdict == "underfitting" and second.diagnosis.recommendations

    policy = e.PutGatePolicy(epb.PutGatePolicyRequest(policy=epb.GatePolicy(project="p", metric="f1_macro",
                                                                            threshold=0.999, ignore_live=True)))
    assert policy.revision == 1 and policy.HasField("threshold")
    third = e.Evaluate(epb.EvaluateRequest(project="p", model_version_id=good))
    assert not third.passed and third.gate_metric == "f1_macro" and any("threshold" in r for r in third.reasons)
    code, _ = code_of(e.Evaluate, epb.EvaluateRequest(project="other", model_version_id=good))
    assert code == grpc.StatusCode.INVALID_ARGUMENT

    tree = train(t, fs, arch="tree", params={"max_depth": 30, "min_samples_leaf": 1})
    e.PutGatePolicy(epb.PutGatePolicyRequest(policy=epb.GatePolicy(project="p", ignore_live=True,
                                                                   block_on_overfitting=True)))
    overfit = e.Evaluate(epb.EvaluateRequest(project="p", model_version_id=tree))
    train_acc = {s.split: s for s in overfit.splits}["train"].metrics["accuracy"]
    assert train_acc == 1.0 and overfit.diagnosis.verdict == "overfitting"
    assert any("max_depth" in r for r in overfit.diagnosis.recommendations)
    assert not overfit.passed and any("overfitting" in r for r in overfit.reasons)

    page = e.ListEvaluations(epb.ListEvaluationsRequest(project="p", page_size=3))
    rest = e.ListEvaluations(epb.ListEvaluationsRequest(project="p", page_size=3, page_token=page.next_page_token))
    assert len(page.evaluations) == 3 and len(rest.evaluations) == 1 and not rest.next_page_token


def test_study_random_search_with_pruning(services):
    t, e, fs = services
    space = struct({"learning_rate": {"choices": [0.00002, 0.03]}, "model.hidden": {"choices": ["[32]", "[16]"]}})
    study = e.StartStudy(epb.StartStudyRequest(project="p", feature_set_id=fs, space=space, sampler="random", trials=6,
                                               parallelism=2, metric="val_loss", seed=3,
                                               base=struct({"params": {"epochs": 20, "batch_size": 32}})))
    assert study.state == "running" and study.direction == "minimize" and study.parallelism == 2
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        study = e.GetStudy(epb.GetStudyRequest(study_id=study.study_id))
        if study.state in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert study.state == "succeeded", study.message
    states = [tr.state for tr in study.trials]
    assert len(states) == 6 and "complete" in states
    assert "pruned" in states, [(tr.params, tr.intermediate, tr.state) for tr in study.trials]
    best = study.trials[study.best_trial]
    assert best.state == "complete" and best.value == pytest.approx(study.best_value)
    assert study.best_params["learning_rate"] == 0.03
    assert best.value == min(tr.value for tr in study.trials if tr.state == "complete")
    runs = {r.run_id: r for r in t.ListRuns(tpb.ListRunsRequest(project="p")).runs}
    for tr in study.trials:
        assert runs[tr.run_id].trigger == f"study:{study.study_id}"
        if tr.state == "pruned":
            assert runs[tr.run_id].state == tpb.RUN_STATE_CANCELLED and len(tr.intermediate) < 20
        else:
            assert runs[tr.run_id].state == tpb.RUN_STATE_SUCCEEDED and tr.model_version_id


def test_detection_iou_and_map(services):
    t, e, _ = services
    splits, transform = samples.boxes(n=500)  # a box-regression feature set next to the digits one
    artifacts, domain = _training_domain(services)
    event = samples.publish(artifacts, "p", "detection", splits, num_classes=1, transform=transform)
    with domain.store.session() as s:
        domain.on_features_ready(event, s)
    mv = train(t, event.feature_set_id, arch="cnn", params={"channels": [8, 16], "hidden": [32],
                                                                    "dropout": 0.0}, epochs=10, learning_rate=0.005)
    result = e.Evaluate(epb.EvaluateRequest(project="p", model_version_id=mv))
    test = {s.split: s for s in result.splits}["test"]
    assert {"iou", "map50", "hit_rate50"} <= set(test.metrics)
    assert 0.4 < test.metrics["iou"] <= 1 and 0 < test.metrics["map50"] <= 1
    assert result.gate_metric == "map50" and result.candidate_value == pytest.approx(test.metrics["map50"])
