"""MonitoringService over real gRPC (port 0): every RPC, its error codes, one real Evidently report."""

from __future__ import annotations

import grpc
import pytest

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from gristmill.monitoring.v1 import monitoring_pb2 as pb
from gristmill.monitoring.v1 import monitoring_pb2_grpc as pb_grpc
from services.common.artifacts import ArtifactStore
from services.common.bus import new_meta
from services.common.grpc_server import channel_options
from services.monitoring.config import MonitoringSettings
from services.monitoring.server import build
from services.serving.testing import make_version, raw_images

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
Code = grpc.StatusCode


@pytest.fixture(scope="module")
def svc(tmp_path_factory, kafka_bootstrap):
    tmp = tmp_path_factory.mktemp("monitoring-grpc")
    settings = MonitoringSettings(service="monitoring", state_dir=tmp, port=0, metrics_port=0, grace_seconds=0.5,
                                  kafka_bootstrap=kafka_bootstrap, artifact_uri=(tmp / "artifacts").as_uri(),
                                  window_size=1000, min_window_rows=10, preload_evidently=False)
    made = make_version(ArtifactStore(settings.artifact_uri), "image", project="mon-g", version_id="mv-mg")
    running, domain = build(settings, consume=False)  # rows are fed in-process; the Kafka path: integration
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield pb_grpc.MonitoringServiceStub(channel), domain, made
    channel.close()
    running.stop()


def code_of(fn):
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()


def feed(domain, x, prefix, model="g-digits", version="mv-mg", prediction="zero", outputs=3):
    with domain.store.session() as s:
        for i, row in enumerate(x.reshape(len(x), -1)):
            domain.on_inference_logged(ev.InferenceLogged(
                meta=new_meta("serving", "mon-g"), request_id=f"{prefix}{i}", model_name=model,
                model_version_id=version, features=row.tolist(), outputs=[0.3] * outputs, prediction=prediction,
                latency_ms=2.0, protocol="v1"), s)


def test_drift_rpcs(svc):
    stub, domain, made = svc
    assert code_of(lambda: stub.GetDriftSummary(pb.GetDriftSummaryRequest()))[0] == Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.GetDriftSummary(pb.GetDriftSummaryRequest(model_name="g-digits")))[0] == \
        Code.NOT_FOUND
    assert code_of(lambda: stub.RunDriftReport(pb.RunDriftReportRequest()))[0] == Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.RunDriftReport(pb.RunDriftReportRequest(model_name="g-digits")))[0] == \
        Code.NOT_FOUND
    feed(domain, made.transform.apply(raw_images(5, seed=1)), "few-")
    code, details = code_of(lambda: stub.RunDriftReport(pb.RunDriftReportRequest(model_name="g-digits")))
    assert code == Code.FAILED_PRECONDITION and "ModelTrained" in details
    # SetReference: errors, then the real one
    train = common_pb2.ArtifactRef(uri=made.train.uri, sha256=made.train.sha256)
    for req, want in ((pb.SetReferenceRequest(train=train), Code.INVALID_ARGUMENT),
                      (pb.SetReferenceRequest(feature_set_id="fs", train=common_pb2.ArtifactRef(uri=made.train.uri)),
                       Code.INVALID_ARGUMENT),
                      (pb.SetReferenceRequest(feature_set_id="fs", train=common_pb2.ArtifactRef(
                          uri=made.train.uri, sha256="0" * 64)), Code.FAILED_PRECONDITION),
                      (pb.SetReferenceRequest(feature_set_id="fs", train=common_pb2.ArtifactRef(
                          uri=made.card_ref.uri, sha256=made.card_ref.sha256)), Code.INVALID_ARGUMENT),
                      (pb.SetReferenceRequest(feature_set_id="fs", train=common_pb2.ArtifactRef(
                          uri=made.train.uri.replace(made.train.sha256, "ab" * 32), sha256="ab" * 32)),
                       Code.NOT_FOUND)):
        assert code_of(lambda r=req: stub.SetReference(r))[0] == want, req
    ref = stub.SetReference(pb.SetReferenceRequest(feature_set_id="fs-g", train=train, model_version_id="mv-mg",
                                                   project="mon-g", task=common_pb2.TASK_CLASSIFICATION))
    assert (ref.rows, ref.columns, ref.reduction) == (400, 18, "pca:16+row_stats") and ref.sample.sha256
    code, details = code_of(lambda: stub.RunDriftReport(pb.RunDriftReportRequest(model_name="g-digits")))
    assert code == Code.FAILED_PRECONDITION and "at least 10" in details
    feed(domain, made.transform.apply(raw_images(40, seed=2, shift=0.4)), "shift-")
    rep = stub.RunDriftReport(pb.RunDriftReportRequest(model_name="g-digits"))
    assert rep.window_rows == 45 and rep.dataset_drift and rep.drift_share >= 0.5
    assert rep.feature_set_id == "fs-g" and rep.reference_rows == 400 and rep.html.uri and rep.seconds > 0
    col = {c.column: c for c in rep.columns}["row_mean"]
    assert col.drifted and col.test == "K-S p_value" and col.threshold == 0.05 and col.score < 0.05
    assert col.drift_when == "score < threshold"
    assert stub.GetDriftSummary(pb.GetDriftSummaryRequest(model_name="g-digits")).report_id == rep.report_id
    listed = stub.ListDriftReports(pb.ListDriftReportsRequest(model_name="g-digits"))
    assert [r.report_id for r in listed.reports] == [rep.report_id] and not listed.next_page_token
    assert stub.ListDriftReports(pb.ListDriftReportsRequest(model_name="none")).reports == []
    assert code_of(lambda: stub.ListDriftReports(pb.ListDriftReportsRequest(page_token="x")))[0] == \
        Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.ListDriftReports(pb.ListDriftReportsRequest(page_size=-3)))[0] == \
        Code.INVALID_ARGUMENT


def test_feedback_and_performance_rpcs(svc):
    stub, domain, made = svc
    feed(domain, made.train_x[:4], "perf-", model="g-perf", prediction="one")
    for req in (pb.SubmitFeedbackRequest(ground_truth="one"), pb.SubmitFeedbackRequest(request_id="perf-0")):
        assert code_of(lambda r=req: stub.SubmitFeedback(r))[0] == Code.INVALID_ARGUMENT
    assert stub.SubmitFeedback(pb.SubmitFeedbackRequest(request_id="perf-0", ground_truth="one")).joined
    assert stub.SubmitFeedback(pb.SubmitFeedbackRequest(request_id="perf-1", ground_truth="two")).joined
    assert not stub.SubmitFeedback(pb.SubmitFeedbackRequest(request_id="later-9", ground_truth="two")).joined
    code, details = code_of(lambda: stub.SubmitFeedback(pb.SubmitFeedbackRequest(request_id="perf-0",
                                                                                 ground_truth="two")))
    assert code == Code.ALREADY_EXISTS and "'one'" in details
    feed(domain, made.train_x[:1, :1, :1, :2], "reg-", model="g-reg", version="mv-reg", prediction="2.5", outputs=1)
    code, details = code_of(lambda: stub.SubmitFeedback(pb.SubmitFeedbackRequest(request_id="reg-0",
                                                                                 ground_truth="cat")))
    assert code == Code.INVALID_ARGUMENT and "number" in details
    perf = stub.GetPerformance(pb.GetPerformanceRequest(model_name="g-perf"))
    assert (perf.requests, perf.labeled, perf.accuracy, perf.task) == (4, 2, 0.5, "classification")
    assert perf.latency_p50_ms == 2.0 and not perf.resources_known
    assert code_of(lambda: stub.GetPerformance(pb.GetPerformanceRequest()))[0] == Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.GetPerformance(pb.GetPerformanceRequest(model_name="nope")))[0] == Code.NOT_FOUND
    assert code_of(lambda: stub.GetPerformance(pb.GetPerformanceRequest(
        model_name="g-perf", model_version_id="mv-other")))[0] == Code.NOT_FOUND


def test_alert_rules_rpcs(svc):
    stub, _, _ = svc
    rules = pb.AlertRules(project="mon-g", model_name="g-digits", max_drift_share=0.25, min_accuracy=0.9,
                          window_size=200, window_seconds=60, retrain_on_drift=True)
    assert stub.PutAlertRules(pb.PutAlertRulesRequest(rules=rules)) == rules
    assert stub.GetAlertRules(pb.GetAlertRulesRequest(project="mon-g", model_name="g-digits")) == rules
    default = stub.GetAlertRules(pb.GetAlertRulesRequest(project="mon-g", model_name="other"))
    assert default.window_size == 1000 and default.max_drift_share == 0.5 and default.retrain_on_drift
    for bad in (pb.PutAlertRulesRequest(), pb.PutAlertRulesRequest(rules=pb.AlertRules(model_name="x")),
                pb.PutAlertRulesRequest(rules=pb.AlertRules(project="p", max_drift_share=2)),
                pb.PutAlertRulesRequest(rules=pb.AlertRules(project="p", min_accuracy=1.5)),
                pb.PutAlertRulesRequest(rules=pb.AlertRules(project="p", max_mae=-1)),
                pb.PutAlertRulesRequest(rules=pb.AlertRules(project="p", window_size=-5)),
                pb.PutAlertRulesRequest(rules=pb.AlertRules(project="p", window_seconds=-1))):
        assert code_of(lambda b=bad: stub.PutAlertRules(b))[0] == Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.GetAlertRules(pb.GetAlertRulesRequest()))[0] == Code.INVALID_ARGUMENT
