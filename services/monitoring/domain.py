"""Monitoring: inference windows, data drift against the training reference, realized performance
with delayed labels, and alerts.

* `InferenceLogged` rows are stored (features as float32 bytes) per model name and version. A window
  closes when it holds `window_size` rows, or is `window_seconds` old with at least
  `min_window_rows` rows (AlertRules override the service defaults per project / model name);
  `RunDriftReport` closes one on demand. A worker thread closes due windows, so consuming never
  waits for Evidently.
* The reference is the feature set's train split: model version -> feature set (ModelTrained),
  feature set -> train NPZ (FeaturesReady), or both via `SetReference`. A seeded sample of
  `reference_rows` rows and the column reduction (see `drift.py`) are stored once as an artifact.
* A report stores Evidently's HTML as an artifact (before its row), marks its rows with the
  report id, and stages `DriftDetected` (when the drifted share reaches the threshold and the rules
  allow retraining) in the same transaction.
* `SubmitFeedback` joins ground truth to a logged prediction by request id (or keeps it until the
  prediction arrives). Accuracy (classification) or MAE (regression) over the labeled rows of a
  version; `ModelDegraded` fires when a rule is first crossed (with at least `min_labeled` labels).
* Latency percentiles and throughput come from the most recent logged rows; CPU and memory from the
  predictor's own gauges on its `/metrics` (its endpoint learned from `ModelDeployed`).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from google.protobuf.struct_pb2 import Struct
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import Artifact, ArtifactStore
from services.common.bus import Publisher, new_meta
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.ids import new_id
from services.common.store import Store, get_or_not_found, paginate, utcnow
from services.monitoring import drift
from services.monitoring.config import MonitoringSettings
from services.monitoring.models import (
    AlertRulesRow,
    AlertStateRow,
    DriftReportRow,
    FeatureSetRow,
    FeedbackRow,
    InferenceRow,
    ModelVersionRow,
    ReferenceRow,
    ServedModelRow,
)

log = logging.getLogger(__name__)
_PRUNE_EVERY_S = 600.0   # retention is in hours; deleting more often buys nothing

PRODUCER = "monitoring"
TASK_NAMES = {common_pb2.TASK_CLASSIFICATION: "classification", common_pb2.TASK_REGRESSION: "regression",
              common_pb2.TASK_DETECTION: "detection", common_pb2.TASK_FORECASTING: "forecasting"}


@dataclass
class Rules:
    project: str
    model_name: str
    max_drift_share: float
    min_accuracy: float
    max_mae: float
    window_size: int
    window_seconds: float
    retrain_on_drift: bool


@dataclass
class Performance:
    model_name: str
    model_version_id: str
    task: str
    requests: int
    labeled: int
    accuracy: float
    mae: float
    latency_p50_ms: float
    latency_p99_ms: float
    throughput_rps: float
    cpu_percent: float
    memory_mb: float
    resources_known: bool


@dataclass
class ReferenceInfo:
    feature_set_id: str
    rows: int
    columns: int
    reduction: str
    sample: Artifact


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def scrape_resources(rest_endpoint: str, timeout: float = 1.0) -> tuple[float, float] | None:
    """(cpu %, resident bytes) from the predictor's `/metrics`, or None when unreachable."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"{rest_endpoint.rstrip('/')}/metrics", timeout=timeout).text
    except httpx.HTTPError:
        return None
    found: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name in ("gristmill_predictor_cpu_percent", "gristmill_predictor_memory_bytes") and fam.samples:
            found[fam.name] = float(fam.samples[0].value)
    if len(found) < 2:
        return None
    return found["gristmill_predictor_cpu_percent"], found["gristmill_predictor_memory_bytes"]


class Monitoring:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: Publisher, settings: MonitoringSettings,
                 scrape=scrape_resources) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings
        self.scrape = scrape
        self._refs: dict[str, tuple[np.ndarray, drift.Reduction]] = {}
        self._report_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._blocked: dict[tuple[str, str], str] = {}
        self._next_prune = 0.0

    # ------------------------------------------------------------------------------------------
    # events
    # ------------------------------------------------------------------------------------------
    def on_features_ready(self, event: ev.FeaturesReady, s: Session) -> None:
        if not event.feature_set_id or not event.train.uri:
            log.warning("FeaturesReady without feature_set_id or train split; ignored")
            return
        self._remember_feature_set(s, event.feature_set_id, event.meta.project, event.train.uri, event.train.sha256,
                                   TASK_NAMES.get(event.task, ""), list(event.input_shape),
                                   event.transform.uri, event.transform.sha256)

    def on_model_trained(self, event: ev.ModelTrained, s: Session) -> None:
        if event.model_version_id and event.feature_set_id:
            row = s.get(ModelVersionRow, event.model_version_id) or ModelVersionRow(
                model_version_id=event.model_version_id)
            row.project, row.feature_set_id = event.meta.project, event.feature_set_id
            s.add(row)

    def on_model_deployed(self, event: ev.ModelDeployed, s: Session) -> None:
        row = s.get(ServedModelRow, event.model_name) or ServedModelRow(model_name=event.model_name)
        row.project, row.model_version_id = event.meta.project, event.model_version_id
        row.rest_endpoint, row.grpc_endpoint = event.rest_endpoint, event.grpc_endpoint
        row.updated_at = utcnow()
        s.add(row)

    def on_inference_logged(self, event: ev.InferenceLogged, s: Session) -> None:
        if not event.request_id or not event.model_name:
            log.warning("InferenceLogged without request_id or model_name; ignored")
            return
        if s.get(InferenceRow, event.request_id) is not None:
            return  # the same request id logged twice: the first one stands
        feats = np.asarray(event.features, np.float32)
        when = event.meta.occurred_at.ToDatetime(tzinfo=dt.UTC) if event.meta.HasField("occurred_at") else utcnow()
        row = InferenceRow(
            request_id=event.request_id, project=event.meta.project, model_name=event.model_name,
            model_version_id=event.model_version_id, features=feats.tobytes(), feature_dim=int(feats.size),
            outputs_len=len(event.outputs), prediction=event.prediction, prediction_value=_number(event.prediction),
            latency_ms=event.latency_ms, protocol=event.protocol, occurred_at=when)
        s.add(row)
        pending = s.get(FeedbackRow, event.request_id)
        if pending is not None:
            self._label(row, pending.ground_truth)
            s.delete(pending)
            s.flush()
            self._check_degraded(s, row.project, row.model_name, row.model_version_id)

    # ------------------------------------------------------------------------------------------
    # reference
    # ------------------------------------------------------------------------------------------
    def _remember_feature_set(self, s: Session, feature_set_id: str, project: str, uri: str, sha256: str,
                              task: str, input_shape: list[int], transform_uri: str = "",
                              transform_sha256: str = "") -> None:
        row = s.get(FeatureSetRow, feature_set_id) or FeatureSetRow(feature_set_id=feature_set_id)
        row.project, row.train_uri, row.train_sha256 = project, uri, sha256
        row.task = task or row.task or ""
        row.input_shape = [int(d) for d in input_shape] or row.input_shape or []
        row.transform_uri = transform_uri or row.transform_uri or ""
        row.transform_sha256 = transform_sha256 or row.transform_sha256 or ""
        s.add(row)

    def set_reference(self, feature_set_id: str, train: Artifact, model_version_id: str = "", project: str = "",
                      task: str = "") -> ReferenceInfo:
        if not feature_set_id:
            raise InvalidArgument("feature_set_id is required")
        if not train.uri or not train.sha256:
            raise InvalidArgument("train.uri and train.sha256 are required")
        data = self.artifacts.read_bytes(train.uri, train.sha256)  # NotFound / FailedPrecondition on a bad ref
        x = self._train_x(data, train.uri)
        with self.store.session() as s:
            self._remember_feature_set(s, feature_set_id, project, train.uri, train.sha256, task, list(x.shape[1:]))
            if model_version_id:
                mv = s.get(ModelVersionRow, model_version_id) or ModelVersionRow(model_version_id=model_version_id)
                mv.project, mv.feature_set_id = project or mv.project or "", feature_set_id
                s.add(mv)
            old = s.get(ReferenceRow, feature_set_id)
            if old is not None:  # a new train split replaces the old sample
                s.delete(old)
        self._refs.pop(feature_set_id, None)
        return self._build_reference(feature_set_id, x)

    @staticmethod
    def _train_x(data: bytes, uri: str) -> np.ndarray:
        import io

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if "x" not in z.files:
                    raise InvalidArgument(f"train split {uri} has no array 'x'")
                x = z["x"]
        except (ValueError, OSError) as exc:
            raise InvalidArgument(f"train split {uri} is not an NPZ file: {exc}") from exc
        if x.ndim < 2 or len(x) < 2 or x.dtype.kind not in "biuf":
            raise InvalidArgument(f"train split {uri}: 'x' must be numeric with at least 2 rows, got {x.shape}")
        return x

    def _build_reference(self, feature_set_id: str, x: np.ndarray) -> ReferenceInfo:
        names = None
        with self.store.session() as s:
            fs = s.get(FeatureSetRow, feature_set_id)
            t_uri, t_sha = (fs.transform_uri, fs.transform_sha256) if fs else ("", "")
        if t_uri:
            try:
                from services.common.features import FittedTransform

                names = drift.layout_names(FittedTransform.from_json(self.artifacts.read_bytes(t_uri, t_sha)))
            except Exception as exc:  # noqa: BLE001 - names are a nicety; x0, x1, ... otherwise
                log.warning("could not read the fitted transform for column names: %s", exc)
        sample = drift.sample_rows(np.asarray(x, np.float32).reshape(len(x), -1), self.settings.reference_rows)
        red = drift.Reduction.fit(sample, self.settings.max_columns, self.settings.pca_components, names)
        art = self.artifacts.put_bytes(drift.save_reference(sample, red), "application/x-npz")
        with self.store.session() as s:
            row = s.get(ReferenceRow, feature_set_id) or ReferenceRow(feature_set_id=feature_set_id)
            row.uri, row.sha256, row.size_bytes = art.uri, art.sha256, art.size_bytes
            row.rows, row.columns, row.reduction = len(sample), len(red.columns), red.name
            s.add(row)
        self._refs[feature_set_id] = (sample, red)
        return ReferenceInfo(feature_set_id, len(sample), len(red.columns), red.name, art)

    def reference_for(self, model_version_id: str) -> tuple[str, np.ndarray, drift.Reduction]:
        with self.store.session() as s:
            mv = s.get(ModelVersionRow, model_version_id)
            if mv is None:
                raise FailedPrecondition(f"no training reference for model version {model_version_id}: no "
                                         "ModelTrained event (or SetReference) named its feature set")
            fs_id = mv.feature_set_id
            fs = s.get(FeatureSetRow, fs_id)
            if fs is None:
                raise FailedPrecondition(f"no training reference for feature set {fs_id}: no FeaturesReady event "
                                         "(or SetReference) gave its train split")
            ref = s.get(ReferenceRow, fs_id)
            train = Artifact(fs.train_uri, fs.train_sha256, 0)
            stored = Artifact(ref.uri, ref.sha256, ref.size_bytes) if ref is not None else None
        if fs_id in self._refs:
            return (fs_id, *self._refs[fs_id])
        if stored is not None:
            sample, red = drift.load_reference(self.artifacts.read_bytes(stored.uri, stored.sha256))
            self._refs[fs_id] = (sample, red)
            return fs_id, sample, red
        self._build_reference(fs_id, self._train_x(self.artifacts.read_bytes(train.uri, train.sha256), train.uri))
        return (fs_id, *self._refs[fs_id])

    # ------------------------------------------------------------------------------------------
    # drift
    # ------------------------------------------------------------------------------------------
    def run_drift_report(self, model_name: str, max_rows: int = 0) -> DriftReportRow:
        if not model_name:
            raise InvalidArgument("model_name is required")
        if max_rows < 0:
            raise InvalidArgument("max_rows must not be negative")
        with self.store.session() as s:
            latest = s.scalar(select(InferenceRow.model_version_id).where(InferenceRow.model_name == model_name)
                              .order_by(InferenceRow.occurred_at.desc()).limit(1))
            if latest is None:
                raise NotFound(f"no inference has been logged for model {model_name}")
            project = s.scalar(select(InferenceRow.project).where(InferenceRow.model_name == model_name).limit(1))
            rules = self._rules(s, project or "", model_name)
        report_id = self._report(model_name, latest, max_rows or rules.window_size, self.settings.min_window_rows)
        return self.get_report(report_id)

    def check_windows(self) -> list[str]:
        """Close every due window; returns the new report ids."""
        now = utcnow()
        with self.store.session() as s:
            groups = s.execute(
                select(InferenceRow.model_name, InferenceRow.model_version_id, func.max(InferenceRow.project),
                       func.count(), func.min(InferenceRow.occurred_at))
                .where(InferenceRow.report_id.is_(None), InferenceRow.feature_dim > 0)  # no input logged: no drift
                .group_by(InferenceRow.model_name, InferenceRow.model_version_id)).all()
            due = []
            for name, version, project, n, oldest in groups:
                rules = self._rules(s, project or "", name)
                if oldest is not None and oldest.tzinfo is None:
                    oldest = oldest.replace(tzinfo=dt.UTC)
                age = (now - oldest).total_seconds() if oldest is not None else 0.0
                if n >= rules.window_size or (rules.window_seconds > 0 and age >= rules.window_seconds
                                              and n >= self.settings.min_window_rows):
                    due.append((name, version, rules.window_size))
        made = []
        for name, version, size in due:
            try:
                made.append(self._report(name, version, size, 1))
                self._blocked.pop((name, version), None)
            except (FailedPrecondition, InvalidArgument, NotFound) as exc:
                if self._blocked.get((name, version)) != exc.message:
                    log.warning("drift window of %s/%s cannot close: %s", name, version, exc.message)
                    self._blocked[(name, version)] = exc.message
        return made

    def _report(self, model_name: str, version: str, limit: int, min_rows: int) -> str:
        with self._report_lock:
            with self.store.session() as s:
                rows = s.execute(
                    select(InferenceRow.request_id, InferenceRow.features, InferenceRow.project)
                    .where(InferenceRow.model_name == model_name, InferenceRow.model_version_id == version,
                           InferenceRow.report_id.is_(None), InferenceRow.feature_dim > 0)
                    .order_by(InferenceRow.occurred_at, InferenceRow.request_id).limit(limit)).all()
            fs_id, sample, red = self.reference_for(version)
            if len(rows) < min_rows:
                raise FailedPrecondition(f"only {len(rows)} records of {model_name} ({version}) arrived since the "
                                         f"last report; a drift report needs at least {min_rows}")
            dims = {len(r.features) // 4 for r in rows}
            ref_dim = sample.shape[1]
            if dims != {ref_dim}:
                raise FailedPrecondition(f"logged features of {model_name} have {sorted(dims)} values per row but "
                                         f"the reference of feature set {fs_id} has {ref_dim}")
            current = np.frombuffer(b"".join(r.features for r in rows), np.float32).reshape(len(rows), ref_dim)
            project = rows[0].project
            with self.store.session() as s:
                rules = self._rules(s, project, model_name)
            threshold = rules.max_drift_share
            with tempfile.TemporaryDirectory() as tmp:
                html = str(Path(tmp) / "drift.html") if self.settings.store_html else None
                result = drift.run_drift(red.frame(sample), red.frame(current), threshold, html)
                art = self.artifacts.put_file(html, "text/html") if html else None
            report_id = new_id("drift")
            ids = [r.request_id for r in rows]
            with self.store.session() as s:
                s.add(DriftReportRow(
                    report_id=report_id, project=project, model_name=model_name, model_version_id=version,
                    feature_set_id=fs_id, columns=[c.to_dict() for c in result.columns],
                    drift_share=result.drift_share, drift_share_threshold=threshold,
                    dataset_drift=result.dataset_drift, window_rows=len(rows), reference_rows=len(sample),
                    reduction=red.name, html_uri=art.uri if art else "", html_sha256=art.sha256 if art else "",
                    html_size=art.size_bytes if art else 0, seconds=result.seconds))
                for i in range(0, len(ids), 500):
                    s.execute(update(InferenceRow).where(InferenceRow.request_id.in_(ids[i:i + 500]))
                              .values(report_id=report_id))
                if result.dataset_drift and rules.retrain_on_drift:
                    self.publisher.stage(s, ev.DriftDetected(
                        meta=new_meta(PRODUCER, project), report_id=report_id, model_name=model_name,
                        model_version_id=version, drift_share=result.drift_share,
                        drifted_columns=result.drifted_columns,
                        report=common_pb2.ArtifactRef(uri=art.uri, sha256=art.sha256, size_bytes=art.size_bytes,
                                                      media_type="text/html") if art else None), key=model_name)
            log.info("drift report", extra={"report_id": report_id, "model_name": model_name, "rows": len(rows),
                                            "drift_share": result.drift_share, "dataset_drift": result.dataset_drift,
                                            "seconds": round(result.seconds, 3)})
            return report_id

    def get_report(self, report_id: str) -> DriftReportRow:
        with self.store.session() as s:
            return get_or_not_found(s, DriftReportRow, report_id, "drift report")

    def drift_summary(self, model_name: str) -> DriftReportRow:
        if not model_name:
            raise InvalidArgument("model_name is required")
        with self.store.session() as s:
            row = s.scalar(select(DriftReportRow).where(DriftReportRow.model_name == model_name)
                           .order_by(DriftReportRow.created_at.desc()).limit(1))
            if row is None:
                raise NotFound(f"no drift report exists for model {model_name} yet")
            return row

    def list_reports(self, model_name: str, size: int = 0, token: str = "") -> tuple[list[DriftReportRow], str]:
        q = select(DriftReportRow).order_by(DriftReportRow.created_at.desc(), DriftReportRow.report_id)
        if model_name:
            q = q.where(DriftReportRow.model_name == model_name)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    # ------------------------------------------------------------------------------------------
    # feedback and performance
    # ------------------------------------------------------------------------------------------
    def submit_feedback(self, request_id: str, ground_truth: str) -> bool:
        request_id, ground_truth = request_id.strip(), ground_truth.strip()
        if not request_id:
            raise InvalidArgument("request_id is required")
        if not ground_truth:
            raise InvalidArgument("ground_truth is required (a class name, or a number as text)")
        with self.store.session() as s:
            row = s.get(InferenceRow, request_id)
            if row is None:
                fb = s.get(FeedbackRow, request_id)
                if fb is not None and fb.ground_truth != ground_truth:
                    raise AlreadyExists(f"request {request_id} already has ground truth {fb.ground_truth!r}")
                if fb is None:
                    s.add(FeedbackRow(request_id=request_id, ground_truth=ground_truth))
                return False
            if row.ground_truth is not None:
                if row.ground_truth != ground_truth:
                    raise AlreadyExists(f"request {request_id} already has ground truth {row.ground_truth!r}")
                return True
            task = self._task(s, row)
            if task in ("regression", "forecasting") and _number(ground_truth) is None:
                raise InvalidArgument(f"model {row.model_name} is a {task} model; ground_truth must be a number, "
                                      f"got {ground_truth!r}")
            self._label(row, ground_truth, task)
            s.flush()
            self._check_degraded(s, row.project, row.model_name, row.model_version_id)
        return True

    def _label(self, row: InferenceRow, ground_truth: str, task: str = "") -> None:
        row.ground_truth, row.ground_truth_value = ground_truth, _number(ground_truth)
        row.correct = row.prediction.strip() == ground_truth.strip()
        if not row.correct and row.prediction_value is not None and row.ground_truth_value is not None \
                and task not in ("regression", "forecasting"):
            row.correct = row.prediction_value == row.ground_truth_value  # "1" vs "1.0"
        row.labeled_at = utcnow()

    def _task(self, s: Session, row: InferenceRow) -> str:
        mv = s.get(ModelVersionRow, row.model_version_id)
        fs = s.get(FeatureSetRow, mv.feature_set_id) if mv is not None else None
        if fs is not None and fs.task:
            return fs.task
        return "regression" if row.outputs_len == 1 else "classification"

    def _quality(self, s: Session, model_name: str, version: str) -> tuple[int, int, float, float]:
        """(requests, labeled, accuracy, mae) of a model version."""
        requests, labeled, correct, mae = s.execute(
            select(func.count(), func.count(InferenceRow.ground_truth),
                   func.sum(case((InferenceRow.correct.is_(True), 1), else_=0)),
                   func.avg(func.abs(InferenceRow.prediction_value - InferenceRow.ground_truth_value)))
            .where(InferenceRow.model_name == model_name, InferenceRow.model_version_id == version)).one()
        acc = float(correct or 0) / labeled if labeled else 0.0
        return int(requests), int(labeled), acc, float(mae) if mae is not None else 0.0

    def _check_degraded(self, s: Session, project: str, model_name: str, version: str) -> None:
        rules = self._rules(s, project, model_name)
        if rules.min_accuracy <= 0 and rules.max_mae <= 0:
            return
        requests, labeled, acc, mae = self._quality(s, model_name, version)
        if labeled < self.settings.min_labeled:
            return
        any_row = s.scalar(select(InferenceRow).where(InferenceRow.model_name == model_name,
                                                      InferenceRow.model_version_id == version).limit(1))
        task = self._task(s, any_row) if any_row is not None else "classification"
        checks = []
        if rules.min_accuracy > 0 and task == "classification":
            checks.append(("accuracy", acc, rules.min_accuracy, acc < rules.min_accuracy))
        if rules.max_mae > 0 and task in ("regression", "forecasting"):
            checks.append(("mae", mae, rules.max_mae, mae > rules.max_mae))
        for metric, value, threshold, bad in checks:
            state = s.get(AlertStateRow, (model_name, version, metric)) or AlertStateRow(
                model_name=model_name, model_version_id=version, metric=metric, degraded=False)
            if bad and not state.degraded:
                details = Struct()
                details.update({"labeled": labeled, "requests": requests, "project": project})
                self.publisher.stage(s, ev.ModelDegraded(
                    meta=new_meta(PRODUCER, project), model_name=model_name, model_version_id=version, metric=metric,
                    value=value, threshold=threshold, details=details), key=model_name)
                log.warning("model degraded", extra={"model_name": model_name, "metric": metric, "value": value})
            state.degraded, state.value = bad, value
            s.add(state)

    def performance(self, model_name: str, model_version_id: str = "") -> Performance:
        if not model_name:
            raise InvalidArgument("model_name is required")
        with self.store.session() as s:
            latest = s.scalar(select(InferenceRow).where(InferenceRow.model_name == model_name)
                              .order_by(InferenceRow.occurred_at.desc()).limit(1))
            if latest is None:
                raise NotFound(f"no inference has been logged for model {model_name}")
            version = model_version_id or latest.model_version_id
            probe = latest if version == latest.model_version_id else s.scalar(
                select(InferenceRow).where(InferenceRow.model_name == model_name,
                                           InferenceRow.model_version_id == version).limit(1))
            if probe is None:
                raise NotFound(f"no inference has been logged for model {model_name} version {version}")
            task = self._task(s, probe)
            requests, labeled, acc, mae = self._quality(s, model_name, version)
            recent = s.execute(select(InferenceRow.latency_ms, InferenceRow.occurred_at)
                               .where(InferenceRow.model_name == model_name, InferenceRow.model_version_id == version)
                               .order_by(InferenceRow.occurred_at.desc()).limit(self.settings.recent_rows)).all()
            served = s.get(ServedModelRow, model_name)
            endpoint = served.rest_endpoint if served is not None else ""
        lat = np.array([r.latency_ms for r in recent], np.float64)
        times = [r.occurred_at for r in recent]
        span = (max(times) - min(times)).total_seconds() if len(times) > 1 else 0.0
        res = self.scrape(endpoint, self.settings.scrape_timeout) if endpoint else None
        return Performance(
            model_name, version, task, requests, labeled, acc if task == "classification" else 0.0,
            mae if task != "classification" else 0.0,
            float(np.percentile(lat, 50)) if lat.size else 0.0, float(np.percentile(lat, 99)) if lat.size else 0.0,
            (len(times) - 1) / span if span > 0 else 0.0,
            res[0] if res else 0.0, res[1] / 2**20 if res else 0.0, res is not None)

    # ------------------------------------------------------------------------------------------
    # alert rules
    # ------------------------------------------------------------------------------------------
    def put_rules(self, r: Rules) -> Rules:
        if not r.project:
            raise InvalidArgument("rules.project is required")
        if not 0.0 <= r.max_drift_share <= 1.0:
            raise InvalidArgument(f"max_drift_share must be within [0, 1], got {r.max_drift_share}")
        if not 0.0 <= r.min_accuracy <= 1.0:
            raise InvalidArgument(f"min_accuracy must be within [0, 1], got {r.min_accuracy}")
        if r.max_mae < 0:
            raise InvalidArgument(f"max_mae must not be negative, got {r.max_mae}")
        if not 0 <= r.window_size <= 1_000_000:
            raise InvalidArgument(f"window_size must be within 0..1000000, got {r.window_size}")
        if r.window_seconds < 0:
            raise InvalidArgument(f"window_seconds must not be negative, got {r.window_seconds}")
        if 0 < r.window_size < self.settings.min_window_rows:
            raise InvalidArgument(f"window_size must be at least {self.settings.min_window_rows} rows (or 0 for "
                                  "the default)")
        with self.store.session() as s:
            row = s.get(AlertRulesRow, (r.project, r.model_name)) or AlertRulesRow(project=r.project,
                                                                                   model_name=r.model_name)
            row.max_drift_share, row.min_accuracy, row.max_mae = r.max_drift_share, r.min_accuracy, r.max_mae
            row.window_size, row.window_seconds, row.retrain_on_drift = r.window_size, r.window_seconds, \
                r.retrain_on_drift
            row.updated_at = utcnow()
            s.add(row)
        return self.get_rules(r.project, r.model_name)

    def get_rules(self, project: str, model_name: str = "") -> Rules:
        if not project:
            raise InvalidArgument("project is required")
        with self.store.session() as s:
            return self._rules(s, project, model_name)

    def _rules(self, s: Session, project: str, model_name: str) -> Rules:
        st = self.settings
        row = s.get(AlertRulesRow, (project, model_name)) or s.get(AlertRulesRow, (project, ""))
        if row is None:
            return Rules(project, model_name, st.max_drift_share, 0.0, 0.0, st.window_size, st.window_seconds, True)
        return Rules(project, model_name, row.max_drift_share or st.max_drift_share, row.min_accuracy, row.max_mae,
                     row.window_size or st.window_size, row.window_seconds or st.window_seconds,
                     row.retrain_on_drift)

    # ------------------------------------------------------------------------------------------
    # worker
    # ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.preload_evidently:
            threading.Thread(target=_preload, name="evidently-import", daemon=True).start()
        self._thread = threading.Thread(target=self._loop, name="monitoring-windows", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def prune(self, now: dt.datetime | None = None) -> int:
        """Delete logged predictions and unjoined feedback older than the retention; drift reports stay.

        Accuracy and latency then describe the retention period, and the table stops growing with traffic."""
        if self.settings.retention_hours <= 0:
            return 0
        cutoff = (now or utcnow()) - dt.timedelta(hours=self.settings.retention_hours)
        with self.store.session() as s:
            n = s.execute(delete(InferenceRow).where(InferenceRow.occurred_at < cutoff)).rowcount
            n += s.execute(delete(FeedbackRow).where(FeedbackRow.submitted_at < cutoff)).rowcount
        if n:
            log.info("pruned monitoring rows past retention", extra={"rows": n, "cutoff": cutoff.isoformat()})
        return n

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.check_interval):
            try:
                self.check_windows()
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + _PRUNE_EVERY_S
                    self.prune()
            except Exception:  # noqa: BLE001 - the worker must survive
                log.exception("window check failed")


def _preload() -> None:
    try:
        import evidently.presets  # noqa: F401
    except Exception:  # noqa: BLE001
        log.exception("could not import evidently")
