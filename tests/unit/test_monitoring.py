"""Monitoring domain on real Evidently, a real SQLite store and artifact store; events are captured
from the outbox-staging call (the Kafka path is covered in tests/integration/test_monitoring_events.py)."""

from __future__ import annotations

import numpy as np
import pytest

from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import ArtifactStore
from services.common.bus import new_meta
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.store import Store
from services.monitoring import drift
from services.monitoring.config import MonitoringSettings
from services.monitoring.domain import Monitoring, Rules
from services.monitoring.models import Base, InferenceRow
from services.serving.testing import make_version, raw_images


class CapturePublisher:
    """Records staged events; publishing itself is the bus's job, tested with a real broker elsewhere."""

    def __init__(self) -> None:
        self.events = []

    def stage(self, session, event, key=""):
        self.events.append(event)

    def flush(self, timeout=30.0):
        return 0

    def of(self, cls):
        return [e for e in self.events if isinstance(e, cls)]


@pytest.fixture
def mon(tmp_path):
    settings = MonitoringSettings(service="monitoring", state_dir=tmp_path, window_size=60, min_window_rows=10,
                                  min_labeled=5, preload_evidently=False)
    store = Store(settings.database_url, Base)
    artifacts = ArtifactStore(settings.artifact_uri)
    pub = CapturePublisher()
    m = Monitoring(store, artifacts, pub, settings, scrape=lambda url, timeout: (12.5, 256 * 2**20))
    mv = make_version(artifacts, "image", version_id="mv-1", feature_set_id="fs-1", project="p")
    yield m, pub, mv
    store.engine.dispose()


def log_rows(m: Monitoring, x: np.ndarray, prefix: str, model="digits", version="mv-1", preds=None, outputs=3):
    with m.store.session() as s:
        for i, row in enumerate(np.asarray(x, np.float32).reshape(len(x), -1)):
            e = ev.InferenceLogged(meta=new_meta("serving", "p"), request_id=f"{prefix}{i}", model_name=model,
                                   model_version_id=version, features=row.tolist(), feature_shape=[1, 8, 8],
                                   outputs=[0.1] * outputs, prediction=(preds[i] if preds else "zero"),
                                   latency_ms=1.0 + i % 10, protocol="v2-rest")
            m.on_inference_logged(e, s)


def test_reduction_keeps_narrow_inputs_and_reduces_wide_ones():
    rng = np.random.default_rng(0)
    narrow = drift.Reduction.fit(rng.normal(size=(50, 4)), max_columns=8, names=["a", "b", "c=x", "c=y"])
    assert narrow.name == "none" and narrow.columns == ["a", "b", "c=x", "c=y"]
    wide_x = rng.normal(size=(200, 64))
    wide = drift.Reduction.fit(wide_x, max_columns=32, components=6)
    assert wide.name == "pca:6+row_stats"
    assert wide.columns == ["pc1", "pc2", "pc3", "pc4", "pc5", "pc6", "row_mean", "row_std"]
    assert wide.apply(wide_x).shape == (200, 8)
    # persisted and reloaded, the same reduction gives the same columns
    _, again = drift.load_reference(drift.save_reference(wide_x[:10], wide))
    np.testing.assert_allclose(again.apply(wide_x), wide.apply(wide_x), rtol=1e-5)
    with pytest.raises(ValueError, match="64"):
        wide.apply(rng.normal(size=(3, 10)))


def test_evidently_no_drift_on_same_distribution_and_drift_on_shift():
    rng = np.random.default_rng(1)
    cols = ["a", "b", "c", "d"]
    import pandas as pd

    ref = pd.DataFrame(rng.normal(size=(800, 4)), columns=cols)
    same = drift.run_drift(ref, pd.DataFrame(rng.normal(size=(300, 4)), columns=cols))
    assert not same.dataset_drift and same.drift_share <= 0.25
    assert {c.test for c in same.columns} == {"K-S p_value"}  # <= 1000 reference rows: p-values
    assert all(c.drift_when == "score < threshold" and c.threshold == 0.05 for c in same.columns)
    shifted = rng.normal(size=(300, 4)) + np.array([0.0, 0.0, 1.5, 2.0])
    res = drift.run_drift(ref, pd.DataFrame(shifted, columns=cols), drift_share=0.5)
    by = {c.column: c for c in res.columns}
    assert by["c"].drifted and by["d"].drifted and by["c"].score < 0.05
    assert not by["a"].drifted and by["a"].score > 0.05
    assert res.drift_share >= 0.5 and res.dataset_drift and {"c", "d"} <= set(res.drifted_columns)


def test_windows_report_drift_and_emit_drift_detected(mon):
    m, pub, made = mon
    with m.store.session() as s:  # what FeaturesReady + ModelTrained teach
        m.on_features_ready(ev.FeaturesReady(meta=new_meta("preprocessing", "p"), feature_set_id="fs-1",
                                             train=dict(uri=made.train.uri, sha256=made.train.sha256),
                                             input_shape=[1, 8, 8], task=1), s)
        m.on_model_trained(ev.ModelTrained(meta=new_meta("training", "p"), model_version_id="mv-1",
                                           feature_set_id="fs-1"), s)
    t = made.transform
    log_rows(m, t.apply(raw_images(59, seed=5)), "same-")
    assert m.check_windows() == []                      # 59 < window of 60
    log_rows(m, t.apply(raw_images(1, seed=6)), "last-")
    (rid,) = m.check_windows()
    rep = m.get_report(rid)
    assert rep.window_rows == 60 and rep.reduction == "pca:16+row_stats" and rep.reference_rows == 400
    assert not rep.dataset_drift and rep.html_uri and m.artifacts.exists(rep.html_uri)
    assert {c["column"] for c in rep.columns} >= {"pc1", "row_mean", "row_std"}
    assert pub.of(ev.DriftDetected) == []
    # a brightness shift drifts
    log_rows(m, t.apply(raw_images(40, seed=7, shift=0.35)), "bright-")
    with pytest.raises(FailedPrecondition):
        m.run_drift_report("digits", max_rows=5)       # below min_window_rows -> nothing changes
    rep2 = m.run_drift_report("digits")
    assert rep2.window_rows == 40 and rep2.dataset_drift
    drifted = {c["column"] for c in rep2.columns if c["drifted"]}
    assert "row_mean" in drifted
    (alert,) = pub.of(ev.DriftDetected)
    assert alert.report_id == rep2.report_id and "row_mean" in alert.drifted_columns and alert.report.uri
    assert m.drift_summary("digits").report_id == rep2.report_id
    page, token = m.list_reports("digits", size=1)
    assert len(page) == 1 and token
    page2, token2 = m.list_reports("digits", size=1, token=token)
    assert page2[0].report_id == rid and token2 == ""


def test_reference_errors_and_retrain_switch(mon):
    m, pub, made = mon
    log_rows(m, made.train_x[:20], "r-")
    with pytest.raises(FailedPrecondition, match="ModelTrained"):
        m.run_drift_report("digits")
    with pytest.raises(NotFound):
        m.run_drift_report("nobody")
    with pytest.raises(InvalidArgument):
        m.set_reference("fs-1", made.train.__class__(made.train.uri, "", 0))
    with pytest.raises(FailedPrecondition, match="checksum"):
        m.set_reference("fs-1", made.train.__class__(made.train.uri, "0" * 64, 0))
    info = m.set_reference("fs-1", made.train, model_version_id="mv-1", project="p")
    assert info.rows == 400 and info.columns == 18
    m.put_rules(Rules("p", "digits", 0.01, 0, 0, 0, 0, retrain_on_drift=False))
    rep = m.run_drift_report("digits")
    assert rep.drift_share_threshold == 0.01
    assert pub.of(ev.DriftDetected) == []  # retrain_on_drift off: reported, not emitted


def test_feedback_accuracy_and_model_degraded(mon):
    m, pub, made = mon
    m.put_rules(Rules("p", "", 0, 0.8, 0, 0, 0, True))
    preds = ["zero", "one", "two", "zero", "one", "two"]
    assert m.submit_feedback("fb-0", "zero") is False            # before the prediction is logged: kept
    log_rows(m, made.train_x[:6], "fb-", preds=preds)
    with m.store.session() as s:
        assert s.get(InferenceRow, "fb-0").correct is True         # joined on arrival
    assert m.submit_feedback("fb-1", "one") is True
    assert m.submit_feedback("fb-1", "one") is True                # idempotent
    with pytest.raises(AlreadyExists):
        m.submit_feedback("fb-1", "two")
    with pytest.raises(InvalidArgument):
        m.submit_feedback("", "x")
    with pytest.raises(InvalidArgument):
        m.submit_feedback("fb-2", " ")
    assert pub.of(ev.ModelDegraded) == []
    for i in (2, 3, 4):
        m.submit_feedback(f"fb-{i}", "zero")   # fb-3 right, fb-2 and fb-4 wrong
    perf = m.performance("digits")
    assert (perf.requests, perf.labeled) == (6, 5) and perf.accuracy == pytest.approx(3 / 5)
    assert perf.task == "classification"
    (deg,) = pub.of(ev.ModelDegraded)
    assert deg.metric == "accuracy" and deg.value == pytest.approx(0.6) and deg.threshold == 0.8
    m.submit_feedback("fb-5", "one")           # still degraded: no second event
    assert len(pub.of(ev.ModelDegraded)) == 1


def test_performance_latency_throughput_resources(mon):
    m, _, made = mon
    with pytest.raises(NotFound):
        m.performance("digits")
    log_rows(m, made.train_x[:20], "p-")
    with m.store.session() as s:
        m.on_model_deployed(ev.ModelDeployed(meta=new_meta("deployment", "p"), model_name="digits",
                                             model_version_id="mv-1", rest_endpoint="http://127.0.0.1:1"), s)
    perf = m.performance("digits")
    assert perf.requests == 20 and perf.labeled == 0
    assert perf.latency_p50_ms == pytest.approx(5.5) and 9.0 < perf.latency_p99_ms <= 10.0
    assert perf.throughput_rps > 0
    assert perf.resources_known and perf.cpu_percent == 12.5 and perf.memory_mb == 256
    with pytest.raises(NotFound):
        m.performance("digits", "mv-nope")


def test_regression_mae_and_rules_validation(mon):
    m, pub, made = mon
    with m.store.session() as s:
        for i, (pred, _) in enumerate([(1.0, 0), (2.0, 0), (4.0, 0)]):
            m.on_inference_logged(ev.InferenceLogged(
                meta=new_meta("serving", "p"), request_id=f"reg-{i}", model_name="prices", model_version_id="mv-r",
                features=[0.0, 1.0], outputs=[pred], prediction=f"{pred:g}", latency_ms=2.0), s)
    with pytest.raises(InvalidArgument, match="number"):
        m.submit_feedback("reg-0", "cheap")
    for i, truth in enumerate(["1.5", "2", "1"]):
        m.submit_feedback(f"reg-{i}", truth)
    perf = m.performance("prices")
    assert perf.task == "regression" and perf.mae == pytest.approx((0.5 + 0 + 3) / 3) and perf.accuracy == 0
    for bad in (Rules("", "", 0, 0, 0, 0, 0, True), Rules("p", "", 1.5, 0, 0, 0, 0, True),
                Rules("p", "", 0, -0.1, 0, 0, 0, True), Rules("p", "", 0, 0, -1, 0, 0, True),
                Rules("p", "", 0, 0, 0, 5, 0, True), Rules("p", "", 0, 0, 0, 0, -1, True)):
        with pytest.raises(InvalidArgument):
            m.put_rules(bad)
    assert m.get_rules("p", "prices").window_size == 60          # service default
    m.put_rules(Rules("p", "prices", 0.3, 0, 0.5, 100, 30, True))
    got = m.get_rules("p", "prices")
    assert (got.max_drift_share, got.max_mae, got.window_size, got.window_seconds) == (0.3, 0.5, 100, 30)
    assert m.get_rules("p", "other").window_size == 60            # other models keep the defaults


def test_time_window_closes_once_old_enough_with_enough_rows(mon):
    m, pub, made = mon
    m.set_reference("fs-1", made.train, model_version_id="mv-1", project="p")
    m.put_rules(Rules("p", "digits", 0, 0, 0, 0, 30, True))     # windows: 60 rows (default) or 30 s
    with m.store.session() as s:
        for i, row in enumerate(made.train_x[:12].reshape(12, -1)):
            meta = new_meta("serving", "p")
            meta.occurred_at.FromSeconds(meta.occurred_at.seconds - (45 if i < 8 else 1))
            m.on_inference_logged(ev.InferenceLogged(meta=meta, request_id=f"t{i}", model_name="digits",
                                                     model_version_id="mv-1", features=row.tolist(),
                                                     outputs=[0.2] * 3, prediction="one"), s)
    (rid,) = m.check_windows()           # the oldest row is 45 s old and 12 >= min_window_rows rows wait
    assert m.get_report(rid).window_rows == 12
    assert m.check_windows() == []       # nothing left


def test_prune_deletes_only_rows_past_retention(mon):
    import datetime as dt

    from services.monitoring.models import FeedbackRow

    m, _, made = mon
    log_rows(m, made.train_x[:4], "old-")
    log_rows(m, made.train_x[:3], "new-")
    m.submit_feedback("never-logged-old", "one")
    m.submit_feedback("never-logged-new", "two")
    now = dt.datetime.now(dt.UTC)
    with m.store.session() as s:
        for i in range(4):
            s.get(InferenceRow, f"old-{i}").occurred_at = now - dt.timedelta(days=31)
        s.get(FeedbackRow, "never-logged-old").submitted_at = now - dt.timedelta(days=31)
    assert m.prune(now) == 5
    with m.store.session() as s:
        assert sorted(r.request_id for r in s.query(InferenceRow)) == ["new-0", "new-1", "new-2"]
        assert [r.request_id for r in s.query(FeedbackRow)] == ["never-logged-new"]
    assert m.performance("digits").requests == 3
    assert m.prune(now) == 0
    m.settings.retention_hours = 0
    with m.store.session() as s:
        s.get(InferenceRow, "new-0").occurred_at = now - dt.timedelta(days=400)
    assert m.prune(now) == 0


def test_rows_logged_without_features_count_for_performance_but_not_drift(mon):
    m, _, made = mon
    m.set_reference("fs-1", made.train, model_version_id="mv-1", project="p")
    log_rows(m, made.train_x[:12], "with-")
    with m.store.session() as s:
        for i in range(80):   # more than a window (60) of rows whose input was too large to log
            m.on_inference_logged(ev.InferenceLogged(meta=new_meta("serving", "p"), request_id=f"bare-{i}",
                                                     model_name="digits", model_version_id="mv-1",
                                                     outputs=[0.1] * 3, prediction="zero", latency_ms=2.0), s)
    assert m.check_windows() == []                 # 12 rows with features: below the window of 60
    assert m.performance("digits").requests == 92
    (rid,) = [m.run_drift_report("digits").report_id]
    assert m.get_report(rid).window_rows == 12
