"""TrainingService over real gRPC: every RPC, its error codes, streaming, cancel, queueing, fine-tuning.

Runs execute with the inline executor here (the same step functions the pipeline runs); the KFP
local runner itself is exercised in tests/pipelines.
"""

from __future__ import annotations

import json
import time

import grpc
import numpy as np
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gristmill.training.v1 import training_pb2 as pb
from gristmill.training.v1 import training_pb2_grpc as pb_grpc
from services.common import modelzoo
from services.common.artifacts import ArtifactStore
from services.common.kafka_local import free_port
from services.training import samples
from services.training.config import TrainingSettings
from services.training.server import build

pytestmark = pytest.mark.kafka
torch.set_num_threads(1)

SMALL_MLP = pb.ModelSpec(architecture="mlp")
SMALL_MLP.params.update({"hidden": [16]})


@pytest.fixture
def server(make_settings, kafka_bootstrap):
    running = []

    def start(**overrides):
        values = dict(executor="inline", kafka_bootstrap=kafka_bootstrap, consume_events=False, torch_threads=1,
                      cancel_wait_seconds=20.0)
        values.update(overrides)
        settings = make_settings("training", TrainingSettings, **values)
        srv = build(settings)
        running.append(srv)
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        return srv, pb_grpc.TrainingServiceStub(channel), ArtifactStore(settings.artifact_uri), channel

    yield start
    for srv in running:
        srv.stop()


def announce(srv, artifacts, project="p", n=400, task="classification"):
    """Hand the service a FeaturesReady as its consumer would."""
    splits, transform = samples.digits(n=n)
    event = samples.publish(artifacts, project, task, splits, num_classes=10, transform=transform)
    with srv.domain.store.session() as s:
        srv.domain.on_features_ready(event, s)
    return event


def spec(fs_id, project="p", model=SMALL_MLP, **params):
    p = {"epochs": 2, "learning_rate": 0.01, "batch_size": 64}
    p.update(params)
    return pb.TrainingSpec(project=project, feature_set_id=fs_id, model=model, params=pb.TrainingParams(**p))


def wait_state(stub, run_id, states, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = stub.GetRun(pb.GetRunRequest(run_id=run_id))
        if run.state in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not reach {states}: {run}")


def code_of(fn, *args) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        fn(*args)
    return e.value.code(), e.value.details()


def test_health_and_reflection(server):
    srv, stub, _, channel = server()
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="gristmill.training.v1.TrainingService"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    resp = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    assert "gristmill.training.v1.TrainingService" in {s.name for s in resp.list_services_response.service}


def test_submit_error_paths_change_nothing(server):
    srv, stub, artifacts, _ = server()
    fs = announce(srv, artifacts).feature_set_id
    submit = stub.SubmitRun

    assert code_of(submit, pb.SubmitRunRequest())[0] == grpc.StatusCode.INVALID_ARGUMENT
    code, details = code_of(submit, pb.SubmitRunRequest(spec=spec("fs-nope")))
    assert code == grpc.StatusCode.NOT_FOUND and "fs-nope" in details
    code, details = code_of(submit, pb.SubmitRunRequest(spec=spec(fs, optimizer="rmsprop")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "rmsprop" in details and all(o in details for o in ("sgd", "adagrad", "adadelta", "adam", "adamw"))
    for bad in ({"epochs": -1}, {"learning_rate": -0.1}, {"batch_size": -5}, {"lr_schedule": "warmup"},
                {"momentum": 1.5}, {"early_stopping_patience": -2}):
        code, details = code_of(submit, pb.SubmitRunRequest(spec=spec(fs, **bad)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (bad, details)
    code, details = code_of(submit, pb.SubmitRunRequest(spec=spec(fs, model=pb.ModelSpec(architecture="resnet"))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "resnet" in details and "cnn" in details
    bad_params = pb.ModelSpec(architecture="cnn")
    bad_params.params.update({"channels": [8], "kernel": 3})
    code, details = code_of(submit, pb.SubmitRunRequest(spec=spec(fs, model=bad_params)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "kernel" in details
    too_deep = pb.ModelSpec(architecture="cnn")
    too_deep.params.update({"channels": [4, 4, 4, 4, 4], "kernel_size": 5, "padding": "valid"})
    assert code_of(submit, pb.SubmitRunRequest(spec=spec(fs, model=too_deep)))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(submit, pb.SubmitRunRequest(spec=spec(fs, model=pb.ModelSpec(architecture="lstm"))))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT  # lstm needs [T, F]; digits are [1, 8, 8]
    code, details = code_of(submit, pb.SubmitRunRequest(spec=spec(fs, model=pb.ModelSpec(finetune_from="mv-nope"))))
    assert code == grpc.StatusCode.NOT_FOUND and "mv-nope" in details
    assert code_of(submit, pb.SubmitRunRequest(spec=spec(fs, model=pb.ModelSpec(freeze=["neck."]))))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(submit, pb.SubmitRunRequest(spec=spec(fs, project="other")))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(submit, pb.SubmitRunRequest(spec=spec(fs), trigger="cron"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert list(stub.ListRuns(pb.ListRunsRequest()).runs) == []


def test_lookup_error_paths(server):
    srv, stub, _, _ = server()
    for fn, req in ((stub.GetRun, pb.GetRunRequest(run_id="run-x")), (stub.CancelRun, pb.CancelRunRequest(run_id="run-x")),
                    (stub.GetModelVersion, pb.GetModelVersionRequest(model_version_id="mv-x")),
                    (stub.GetTrainingPolicy, pb.GetTrainingPolicyRequest(project="nobody"))):
        assert code_of(fn, req)[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda r: list(stub.StreamRunMetrics(r)), pb.StreamRunMetricsRequest(run_id="run-x"))[0] == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(stub.GetRun, pb.GetRunRequest())[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(stub.ListRuns, pb.ListRunsRequest(page_token="garbage"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(stub.ListModelVersions, pb.ListModelVersionsRequest(page_size=-1))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_training_policy_rpcs(server):
    srv, stub, _, _ = server()
    put = stub.PutTrainingPolicy
    assert code_of(put, pb.PutTrainingPolicyRequest())[0] == grpc.StatusCode.INVALID_ARGUMENT
    bad = pb.TrainingPolicy(project="p", auto_train=True, params=pb.TrainingParams(optimizer="lbfgs"))
    assert code_of(put, pb.PutTrainingPolicyRequest(policy=bad))[0] == grpc.StatusCode.INVALID_ARGUMENT
    bad = pb.TrainingPolicy(project="p", model=pb.ModelSpec(architecture="mlp"))
    bad.model.params.update({"widths": [3]})
    assert code_of(put, pb.PutTrainingPolicyRequest(policy=bad))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(put, pb.PutTrainingPolicyRequest(policy=pb.TrainingPolicy(
        project="p", model=pb.ModelSpec(finetune_from="mv-nope"))))[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(stub.GetTrainingPolicy, pb.GetTrainingPolicyRequest(project="p"))[0] == grpc.StatusCode.NOT_FOUND
    good = pb.TrainingPolicy(project="p", auto_train=True, model=SMALL_MLP,
                             params=pb.TrainingParams(epochs=3, optimizer="sgd", momentum=0.9))
    first = put(pb.PutTrainingPolicyRequest(policy=good))
    second = put(pb.PutTrainingPolicyRequest(policy=good))
    assert (first.revision, second.revision) == (1, 2)
    got = stub.GetTrainingPolicy(pb.GetTrainingPolicyRequest(project="p"))
    assert got.auto_train and got.params.optimizer == "sgd" and got.model.architecture == "mlp"
    assert list(got.model.params["hidden"]) == [16]


def test_run_streams_metrics_and_registers_a_model_version(server):
    srv, stub, artifacts, _ = server()
    fs = announce(srv, artifacts).feature_set_id
    run = stub.SubmitRun(pb.SubmitRunRequest(spec=spec(fs, epochs=3, optimizer="adamw", lr_schedule="cosine")))
    assert run.state in (pb.RUN_STATE_QUEUED, pb.RUN_STATE_RUNNING) and run.trigger == "rpc"
    live = list(stub.StreamRunMetrics(pb.StreamRunMetricsRequest(run_id=run.run_id)))  # replay, then live
    assert [m.epoch for m in live] == [1, 2, 3]
    assert all(m.metric_name == "accuracy" and m.train_loss > 0 and m.val_loss > 0 for m in live)
    assert live[-1].learning_rate < live[0].learning_rate  # cosine schedule
    done = wait_state(stub, run.run_id, (pb.RUN_STATE_SUCCEEDED, pb.RUN_STATE_FAILED))
    assert done.state == pb.RUN_STATE_SUCCEEDED, done.message
    assert done.epochs_done == 3 and done.attempts == 1 and done.executor == "inline"
    replay = list(stub.StreamRunMetrics(pb.StreamRunMetricsRequest(run_id=run.run_id)))
    assert [(m.epoch, m.val_loss) for m in replay] == [(m.epoch, m.val_loss) for m in live]

    mv = stub.GetModelVersion(pb.GetModelVersionRequest(model_version_id=done.model_version_id))
    assert mv.run_id == run.run_id and mv.feature_set_id == fs and mv.architecture == "mlp"
    assert mv.metrics["epochs_trained"] == 3 and "val_accuracy" in mv.metrics and "test_accuracy" in mv.metrics
    weights = artifacts.read_bytes(mv.weights.uri, mv.weights.sha256)
    header = json.loads(weights[8: 8 + int.from_bytes(weights[:8], "little")])  # safetensors, not a pickle
    assert "neck.0.weight" in header and weights[:2] != b"\x80\x04"
    assert artifacts.read_bytes(mv.curve_plot.uri, mv.curve_plot.sha256)[:8] == b"\x89PNG\r\n\x1a\n"
    card = modelzoo.ModelCard.from_json(artifacts.read_bytes(mv.model_card.uri, mv.model_card.sha256))
    assert card.model_version_id == mv.model_version_id and card.feature_set_id == fs
    assert card.optimizer["name"] == "adamw" and card.training["lr_schedule"] == "cosine"
    assert card.weights_sha256 == mv.weights.sha256 and card.transform_uri == mv.transform.uri
    assert len(card.training["history"]) == 3 and card.dataset_version_id
    splits, _ = samples.digits(n=400)
    x_test, y_test = splits["test"]
    probs = modelzoo.load_model(card, weights).predict(x_test)
    assert probs.shape == (len(x_test), 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert abs(float((probs.argmax(1) == y_test).mean()) - mv.metrics["test_accuracy"]) < 1e-6

    listed = stub.ListModelVersions(pb.ListModelVersionsRequest(project="p"))
    assert [m.model_version_id for m in listed.model_versions] == [mv.model_version_id]
    assert list(stub.ListModelVersions(pb.ListModelVersionsRequest(project="q")).model_versions) == []


def test_queue_limit_and_cancel(server):
    srv, stub, artifacts, _ = server(max_concurrent_runs=1)
    fs = announce(srv, artifacts, n=600).feature_set_id
    long = stub.SubmitRun(pb.SubmitRunRequest(spec=spec(fs, epochs=2000, batch_size=16)))
    queued = stub.SubmitRun(pb.SubmitRunRequest(spec=spec(fs, epochs=2)))
    wait_state(stub, long.run_id, (pb.RUN_STATE_RUNNING,))
    metrics = stub.StreamRunMetrics(pb.StreamRunMetricsRequest(run_id=long.run_id))
    assert next(metrics).epoch == 1  # live epochs arrive while the run goes on
    assert stub.GetRun(pb.GetRunRequest(run_id=queued.run_id)).state == pb.RUN_STATE_QUEUED  # limit 1
    page = stub.ListRuns(pb.ListRunsRequest(project="p", page_size=1))
    assert len(page.runs) == 1 and page.next_page_token
    rest = stub.ListRuns(pb.ListRunsRequest(project="p", page_size=1, page_token=page.next_page_token))
    assert {page.runs[0].run_id, rest.runs[0].run_id} == {long.run_id, queued.run_id}

    cancelled = stub.CancelRun(pb.CancelRunRequest(run_id=queued.run_id))
    assert cancelled.state == pb.RUN_STATE_CANCELLED and "before it started" in cancelled.message
    t0 = time.monotonic()
    stopped = stub.CancelRun(pb.CancelRunRequest(run_id=long.run_id))
    assert stopped.state == pb.RUN_STATE_CANCELLED and time.monotonic() - t0 < 20
    assert 1 <= stopped.epochs_done < 2000 and not stopped.model_version_id
    assert [m.epoch for m in metrics][-1] <= stopped.epochs_done  # the stream ends with the run
    code, details = code_of(stub.CancelRun, pb.CancelRunRequest(run_id=long.run_id))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "CANCELLED" in details
    assert list(stub.ListModelVersions(pb.ListModelVersionsRequest()).model_versions) == []


def test_finetune_freezes_prefixes_and_replaces_the_head(server):
    srv, stub, artifacts, _ = server()
    fs = announce(srv, artifacts).feature_set_id
    base = wait_state(stub, stub.SubmitRun(pb.SubmitRunRequest(spec=spec(fs))).run_id, (pb.RUN_STATE_SUCCEEDED,))
    base_mv = stub.GetModelVersion(pb.GetModelVersionRequest(model_version_id=base.model_version_id))
    code, details = code_of(stub.SubmitRun, pb.SubmitRunRequest(spec=spec(
        fs, model=pb.ModelSpec(finetune_from=base.model_version_id, freeze=["trunk."]))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "neck.0.weight" in details
    ft_model = pb.ModelSpec(finetune_from=base.model_version_id, freeze=["neck."], new_head=True)
    ft = wait_state(stub, stub.SubmitRun(pb.SubmitRunRequest(spec=spec(fs, model=ft_model))).run_id,
                    (pb.RUN_STATE_SUCCEEDED, pb.RUN_STATE_FAILED))
    assert ft.state == pb.RUN_STATE_SUCCEEDED, ft.message
    mv = stub.GetModelVersion(pb.GetModelVersionRequest(model_version_id=ft.model_version_id))
    assert mv.finetuned_from == base.model_version_id
    before = modelzoo.weights_from_bytes(artifacts.read_bytes(base_mv.weights.uri))
    after = modelzoo.weights_from_bytes(artifacts.read_bytes(mv.weights.uri))
    assert torch.equal(before["neck.0.weight"], after["neck.0.weight"])  # frozen
    assert not torch.equal(before["head.weight"], after["head.weight"])  # new head, trained
    card = modelzoo.ModelCard.from_json(artifacts.read_bytes(mv.model_card.uri))
    assert card.training["finetuned_from"] == base.model_version_id
    assert card.training["frozen"] == ["neck.0.bias", "neck.0.weight"]


def test_cluster_mode_without_a_kfp_endpoint_is_unavailable(server):
    host = f"http://127.0.0.1:{free_port()}"
    srv, stub, artifacts, _ = server(executor="kfp", kfp_host=host)
    fs = announce(srv, artifacts).feature_set_id
    code, details = code_of(stub.SubmitRun, pb.SubmitRunRequest(spec=spec(fs)))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert host in details and "GRISTMILL_TRAINING_KFP_HOST" in details
    assert list(stub.ListRuns(pb.ListRunsRequest()).runs) == []
