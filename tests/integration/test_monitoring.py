"""Monitoring on real events: a real ModelServer logs InferenceLogged to Kafka, monitoring windows them,
runs Evidently against the train split it learned from FeaturesReady / ModelTrained, and emits
DriftDetected and (after delayed labels) ModelDegraded on Kafka."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from gristmill.monitoring.v1 import monitoring_pb2 as pb
from gristmill.monitoring.v1 import monitoring_pb2_grpc as pb_grpc
from services.common.artifacts import ArtifactStore
from services.common.bus import make_producer, new_meta
from services.common.grpc_server import channel_options
from services.deployment.config import DeploymentSettings
from services.deployment.local import LocalServers, Target
from services.monitoring.config import MonitoringSettings
from services.monitoring.server import build
from services.serving.testing import make_version, raw_images
from tests.events import Topic, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
PROJECT, NAME = "mon-it", "mon-digits"


@pytest.fixture(scope="module")
def env(tmp_path_factory, kafka_bootstrap):
    tmp = tmp_path_factory.mktemp("monitoring-it")
    settings = MonitoringSettings(service="monitoring", state_dir=tmp, port=0, metrics_port=0, grace_seconds=0.5,
                                  kafka_bootstrap=kafka_bootstrap, artifact_uri=(tmp / "artifacts").as_uri(),
                                  window_size=40, min_window_rows=10, min_labeled=5, check_interval=0.5)
    artifacts = ArtifactStore(settings.artifact_uri)
    stamp = str(int(time.time() * 1000))
    made = make_version(artifacts, "image", project=PROJECT, version_id=f"mv-mon-{stamp}",
                        feature_set_id=f"fs-mon-{stamp}")
    tref = artifacts.put_bytes(made.transform.to_json().encode())
    running, domain = build(settings)
    producer = make_producer(kafka_bootstrap, "monitoring-it")
    publish(producer, ev.FeaturesReady(
        meta=new_meta("preprocessing", PROJECT), feature_set_id=made.card.feature_set_id,
        train=common_pb2.ArtifactRef(uri=made.train.uri, sha256=made.train.sha256),
        transform=common_pb2.ArtifactRef(uri=tref.uri, sha256=tref.sha256), task=common_pb2.TASK_CLASSIFICATION,
        input_shape=[1, 8, 8], num_classes=3))
    publish(producer, ev.ModelTrained(meta=new_meta("training", PROJECT), model_version_id=made.card.model_version_id,
                                      feature_set_id=made.card.feature_set_id,
                                      model_card=common_pb2.ArtifactRef(uri=made.card_ref.uri,
                                                                        sha256=made.card_ref.sha256)))
    servers = LocalServers(DeploymentSettings(service="deployment", state_dir=tmp, kafka_bootstrap=kafka_bootstrap,
                                              artifact_uri=settings.artifact_uri))
    ep = servers.start(Target("dep-mon", PROJECT, NAME, made.card.model_version_id, made.card_ref.uri,
                              made.card_ref.sha256), timeout=240)
    publish(producer, ev.ModelDeployed(meta=new_meta("deployment", PROJECT), deployment_id="dep-mon",
                                       model_version_id=made.card.model_version_id, model_name=NAME,
                                       rest_endpoint=ep.rest, grpc_endpoint=ep.grpc, canary_percent=100))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield domain, pb_grpc.MonitoringServiceStub(channel), made, ep, kafka_bootstrap
    channel.close()
    servers.stop_all()
    producer.close()
    running.stop()


def predict(ep, pixels, request_id):
    r = httpx.post(f"{ep.rest}/v1/models/{NAME}:predict", json={"instances": pixels.tolist()},
                   headers={"x-request-id": request_id}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["predictions"]


def test_windows_from_real_traffic_detect_drift(env):
    domain, stub, made, ep, bootstrap = env
    drift_topic = Topic(bootstrap, ev.DriftDetected)
    predict(ep, raw_images(40, seed=21), "same")                 # one window of training-like inputs
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            first = stub.GetDriftSummary(pb.GetDriftSummaryRequest(model_name=NAME))
            break
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.NOT_FOUND
            time.sleep(0.5)
    else:
        raise AssertionError("no drift report for the first window")
    assert first.window_rows == 40 and not first.dataset_drift and first.reduction == "pca:16+row_stats"
    assert first.model_version_id == made.card.model_version_id and first.project == PROJECT
    predict(ep, raw_images(40, seed=22, shift=0.4), "bright")   # a second window, brighter
    alert = drift_topic.wait_for(lambda e: e.model_name == NAME)
    assert alert.model_version_id == made.card.model_version_id and "row_mean" in alert.drifted_columns
    assert alert.drift_share >= 0.5 and alert.report.uri and alert.meta.project == PROJECT
    summary = stub.GetDriftSummary(pb.GetDriftSummaryRequest(model_name=NAME))
    assert summary.report_id == alert.report_id and summary.dataset_drift
    assert domain.artifacts.read_bytes(summary.html.uri, summary.html.sha256).lstrip().startswith(b"<!DOCTYPE html>")
    reports = stub.ListDriftReports(pb.ListDriftReportsRequest(model_name=NAME)).reports
    assert [r.report_id for r in reports] == [alert.report_id, first.report_id]
    drift_topic.close()


def test_delayed_labels_degrade_and_performance(env):
    domain, stub, made, ep, bootstrap = env
    degraded = Topic(bootstrap, ev.ModelDegraded)
    stub.PutAlertRules(pb.PutAlertRulesRequest(rules=pb.AlertRules(project=PROJECT, min_accuracy=0.9)))
    preds = predict(ep, raw_images(6, seed=23), "label")
    others = {"zero": "one", "one": "two", "two": "zero"}
    for i, p in enumerate(preds):   # ground truth disagrees with every prediction
        rid = f"label#{i}"
        deadline = time.monotonic() + 60
        while not stub.SubmitFeedback(pb.SubmitFeedbackRequest(request_id=rid, ground_truth=others[p])).joined:
            assert time.monotonic() < deadline, "prediction never logged"
            time.sleep(0.3)
    alert = degraded.wait_for(lambda e: e.model_name == NAME)
    assert alert.metric == "accuracy" and alert.value == 0.0 and alert.threshold == 0.9
    assert alert.details["labeled"] == 5  # fires once min_labeled labels are in
    perf = stub.GetPerformance(pb.GetPerformanceRequest(model_name=NAME))
    assert perf.requests >= 6 and perf.labeled == 6 and perf.accuracy == 0.0 and perf.task == "classification"
    assert perf.latency_p50_ms > 0 and perf.latency_p99_ms >= perf.latency_p50_ms
    assert perf.resources_known and perf.memory_mb > 50 and perf.cpu_percent >= 0
    degraded.close()
