"""Evaluation domain: metrics, diagnosis, promotion gate, studies (no grpc here).

Models are learned from ModelTrained events (or fetched with GetModelVersion through the
training client) and loaded with `services.common.modelzoo` from the artifact store; the feature
splits they were trained on are named in their model card (`training.data`).

The gate: a candidate passes when it meets the policy's threshold (if any) and beats the live
model by `min_improvement` on the policy's metric. The live model is the project's last full
rollout seen in ModelDeployed; before any deployment, the last model that passed the gate.
The live model is scored right now on the candidate's split whenever it takes the same inputs
(same task, input shape and outputs), so both are judged on the newest data; otherwise its recorded
evaluation on its own split is used (and the reason says so).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import modelzoo
from services.common.artifacts import ArtifactStore
from services.common.bus import Publisher
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, require
from services.common.ids import new_id
from services.common.store import Store, get_or_not_found, paginate, utcnow
from services.evaluation import events
from services.evaluation.config import EvaluationSettings
from services.evaluation.diagnosis import Diagnosis, diagnose
from services.evaluation.metrics import DEFAULT_GATE_METRIC, SplitMetrics, compute, higher_is_better
from services.evaluation.study import PRUNERS, SAMPLERS, StudyRequest, StudyRunner, parse_space
from services.evaluation.tables import (
    EvaluationRow,
    GatePolicyRow,
    LiveModelRow,
    ModelRow,
    StudyRow,
    TrialRow,
)

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


@dataclass
class GatePolicy:
    project: str
    metric: str = ""
    split: str = "test"
    direction: str = ""
    threshold: float | None = None
    min_improvement: float = 0.0
    ignore_live: bool = False
    skip_auto_evaluate: bool = False
    block_on_overfitting: bool = False
    revision: int = 0
    updated_at: dt.datetime | None = None


@dataclass
class Assessment:
    """Everything computed for one model, before anything is written."""

    card: modelzoo.ModelCard
    splits: list[SplitMetrics]
    diagnosis: Diagnosis
    passed: bool = False
    reasons: list[str] = field(default_factory=list)
    gate_metric: str = ""
    gate_split: str = ""
    candidate_value: float = 0.0
    baseline_model_version_id: str = ""
    baseline_value: float = 0.0


class EvaluationDomain:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: Publisher, settings: EvaluationSettings,
                 training) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings
        self.training = training  # TrainingClient-like: get_model_version, submit, stream_metrics, cancel, get_run
        self._runners: dict[str, StudyRunner] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self.store.session() as s:
            for row in s.scalars(select(StudyRow).where(StudyRow.state == "running")).all():
                row.state, row.message = "failed", "interrupted by a service restart"

    def close(self) -> None:
        for r in list(self._runners.values()):
            r.stop()

    # ==========================================================================================
    # models
    # ==========================================================================================
    def _model(self, s: Session, model_version_id: str) -> ModelRow:
        row = s.get(ModelRow, model_version_id)
        if row is not None:
            return row
        mv = self.training.get_model_version(model_version_id)  # NotFound / Unavailable come through
        row = ModelRow(model_version_id=mv["model_version_id"], project=mv["project"], run_id=mv["run_id"],
                       feature_set_id=mv["feature_set_id"], weights=json.dumps(mv["weights"]),
                       card=json.dumps(mv["card"]), trigger=mv.get("trigger", ""), created_at=utcnow())
        s.add(row)
        return row

    def record_model(self, s: Session, event) -> ModelRow:
        row = s.get(ModelRow, event.model_version_id)
        if row is None:
            row = ModelRow(model_version_id=event.model_version_id, project=event.meta.project,
                           run_id=event.run_id, feature_set_id=event.feature_set_id,
                           weights=json.dumps({"uri": event.weights.uri, "sha256": event.weights.sha256}),
                           card=json.dumps({"uri": event.model_card.uri, "sha256": event.model_card.sha256}),
                           trigger=event.trigger, created_at=utcnow())
            s.add(row)
        return row

    def _load(self, row: ModelRow) -> tuple[modelzoo.ModelCard, modelzoo.LoadedModel]:
        card_ref, weights_ref = json.loads(row.card), json.loads(row.weights)
        card = modelzoo.ModelCard.from_json(self.artifacts.read_bytes(card_ref["uri"], card_ref.get("sha256", "")))
        weights = self.artifacts.read_bytes(weights_ref["uri"], weights_ref.get("sha256", ""))
        return card, modelzoo.load_model(card, weights)

    def _split_data(self, card: modelzoo.ModelCard, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        ref = ((card.training or {}).get("data") or {}).get(split)
        if not ref or not ref.get("uri"):
            return None
        with np.load(io.BytesIO(self.artifacts.read_bytes(ref["uri"], ref.get("sha256", ""))),
                     allow_pickle=False) as z:
            x, y = z["x"], z["y"]
        return (x, y) if len(x) else None

    def _num_classes(self, card: modelzoo.ModelCard) -> int:
        if card.task == "classification":
            return card.num_outputs
        if card.task == "detection":
            return card.num_outputs - 4
        return 0

    def _score(self, card: modelzoo.ModelCard, model: modelzoo.LoadedModel, split: str,
               data_card: modelzoo.ModelCard | None = None) -> SplitMetrics | None:
        """Score `model` on `split` of its own feature set, or of `data_card`'s (another model's)."""
        data = self._split_data(data_card or card, split)
        if data is None:
            return None
        x, y = data
        return compute(card.task, y, model.predict(x), self._num_classes(card), split)

    # ==========================================================================================
    # policies
    # ==========================================================================================
    def put_policy(self, p: GatePolicy) -> GatePolicy:
        require(p.project, "policy.project is required")
        require(p.split in ("", "test", "validation"), f"policy.split must be test or validation, got {p.split!r}")
        require(p.direction in ("", "maximize", "minimize"),
                f"policy.direction must be maximize or minimize, got {p.direction!r}")
        require(p.min_improvement >= 0, "policy.min_improvement must be >= 0")
        with self.store.session() as s:
            row = s.get(GatePolicyRow, p.project)
            if row is None:
                row = GatePolicyRow(project=p.project, revision=0)
                s.add(row)
            for f in ("metric", "direction", "threshold", "min_improvement", "ignore_live", "skip_auto_evaluate",
                      "block_on_overfitting"):
                setattr(row, f, getattr(p, f))
            row.split = p.split or "test"
            row.revision = (row.revision or 0) + 1
            row.updated_at = utcnow()
            s.flush()
            return self._policy(row)

    @staticmethod
    def _policy(row: GatePolicyRow) -> GatePolicy:
        return GatePolicy(project=row.project, metric=row.metric, split=row.split, direction=row.direction,
                          threshold=row.threshold, min_improvement=row.min_improvement, ignore_live=row.ignore_live,
                          skip_auto_evaluate=row.skip_auto_evaluate, block_on_overfitting=row.block_on_overfitting,
                          revision=row.revision, updated_at=row.updated_at)

    def get_policy(self, project: str) -> GatePolicy:
        require(project, "project is required")
        with self.store.session() as s:
            row = s.get(GatePolicyRow, project)
            if row is None:
                raise NotFound(f"project {project!r} has no gate policy")
            return self._policy(row)

    def _policy_or_default(self, s: Session, project: str) -> GatePolicy:
        row = s.get(GatePolicyRow, project)
        return self._policy(row) if row is not None else GatePolicy(project=project)

    # ==========================================================================================
    # evaluating
    # ==========================================================================================
    def evaluate(self, project: str, model_version_id: str, correlation_id: str = "") -> EvaluationRow:
        require(model_version_id, "model_version_id is required")
        with self.store.session() as s:
            row = self._model(s, model_version_id)
            if project and row.project != project:
                raise InvalidArgument(f"model version {model_version_id} belongs to project {row.project!r}, "
                                      f"not {project!r}")
            assessment = self.assess(s, row)
            ev_row = self._record(s, row, assessment, "rpc", correlation_id=correlation_id, causation=None)
        return ev_row  # the commit wakes the outbox relay, which sends ModelEvaluated

    def on_model_trained(self, event, s: Session) -> None:
        """Evaluate every new model automatically (not tuning trials, not when the policy says no)."""
        row = self.record_model(s, event)
        if event.trigger.startswith("study:"):
            log.info("tuning trial recorded, not gated", extra={"model_version_id": row.model_version_id})
            return
        if self._policy_or_default(s, row.project).skip_auto_evaluate:
            return
        try:
            assessment = self.assess(s, row)
        except (InvalidArgument, NotFound, FailedPrecondition) as exc:
            exc.permanent = True
            raise
        self._record(s, row, assessment, "model-trained", correlation_id="", causation=event.meta)

    def on_model_deployed(self, event, s: Session) -> None:
        """A full rollout makes the model the project's live baseline."""
        if 0 < event.canary_percent < 100 or not event.model_version_id:
            return
        live = s.get(LiveModelRow, event.meta.project)
        if live is None:
            s.add(LiveModelRow(project=event.meta.project, model_version_id=event.model_version_id,
                               updated_at=utcnow()))
        else:
            live.model_version_id, live.updated_at = event.model_version_id, utcnow()

    def assess(self, s: Session, row: ModelRow) -> Assessment:
        card, model = self._load(row)
        splits = [m for m in (self._score(card, model, sp) for sp in SPLITS) if m is not None]
        by_split = {m.split: m.metrics for m in splits}
        baseline = self._trivial_baseline(card)
        diagnosis = diagnose(card, by_split, baseline)
        a = Assessment(card=card, splits=splits, diagnosis=diagnosis)
        self._gate(s, row, a, by_split)
        return a

    def _trivial_baseline(self, card: modelzoo.ModelCard) -> float:
        if card.task != "classification":
            return 0.0
        data = self._split_data(card, "train")
        if data is None:
            return 0.0
        counts = np.bincount(np.asarray(data[1]).astype(np.int64).reshape(-1))
        return float(counts.max() / counts.sum()) if counts.sum() else 0.0

    def _gate(self, s: Session, row: ModelRow, a: Assessment, by_split: dict[str, dict[str, float]]) -> None:
        policy = self._policy_or_default(s, row.project)
        metric = policy.metric or DEFAULT_GATE_METRIC[a.card.task]
        split = policy.split or "test"
        if split not in by_split:
            split = "validation" if "validation" in by_split else next(iter(by_split), "")
            a.reasons.append(f"no {policy.split or 'test'} split; gating on {split}")
        a.gate_metric, a.gate_split = metric, split
        values = by_split.get(split, {})
        if metric not in values:
            a.passed = False
            a.reasons.append(f"metric {metric!r} is not available for {a.card.task}; have {sorted(values)}")
            return
        maximize = (policy.direction or ("maximize" if higher_is_better(metric) else "minimize")) == "maximize"
        value = float(values[metric])
        a.candidate_value = value
        better = (lambda x, y: x >= y) if maximize else (lambda x, y: x <= y)
        ok = True
        if policy.threshold is not None:
            if better(value, policy.threshold):
                a.reasons.append(f"{metric} {value:.4f} meets the threshold {policy.threshold:g}")
            else:
                ok = False
                a.reasons.append(f"{metric} {value:.4f} misses the threshold {policy.threshold:g} "
                                 f"({'>=' if maximize else '<='} required)")
        if not policy.ignore_live:
            base = self._baseline(s, row, a, metric, split)
            if base is None:
                a.reasons.append("no live model yet: nothing to beat")
            else:
                base_id, base_value, how = base
                a.baseline_model_version_id, a.baseline_value = base_id, base_value
                margin = policy.min_improvement
                target = base_value + margin if maximize else base_value - margin
                if value > target if maximize else value < target:
                    a.reasons.append(f"{metric} {value:.4f} beats live model {base_id} ({base_value:.4f}, {how})"
                                     + (f" by more than {margin:g}" if margin else ""))
                else:
                    ok = False
                    a.reasons.append(f"{metric} {value:.4f} does not beat live model {base_id} "
                                     f"({base_value:.4f}, {how})" + (f" by {margin:g}" if margin else ""))
        if policy.block_on_overfitting and a.diagnosis.verdict == "overfitting":
            ok = False
            a.reasons.append("diagnosed as overfitting and the policy blocks overfitting candidates")
        a.passed = ok

    def _baseline(self, s: Session, row: ModelRow, a: Assessment, metric: str, split: str
                  ) -> tuple[str, float, str] | None:
        live = s.get(LiveModelRow, row.project)
        base_id, source = (live.model_version_id, "deployed") if live else ("", "")
        if not base_id:
            last = s.scalars(select(EvaluationRow).where(
                EvaluationRow.project == row.project, EvaluationRow.passed.is_(True),
                EvaluationRow.model_version_id != row.model_version_id)
                .order_by(EvaluationRow.created_at.desc()).limit(1)).first()
            if last is None:
                return None
            base_id, source = last.model_version_id, "last model that passed the gate"
        if base_id == row.model_version_id:
            return None
        base_row = s.get(ModelRow, base_id)
        if base_row is None:
            try:
                base_row = self._model(s, base_id)
            except NotFound:
                return None
        card, model = self._load(base_row)
        same_inputs = (card.task, list(card.input_shape), card.num_outputs) == (
            a.card.task, list(a.card.input_shape), a.card.num_outputs)
        if base_row.feature_set_id == row.feature_set_id or same_inputs:
            # Both models judged on the candidate's data: a fair comparison after the data moved on.
            m = self._score(card, model, split, data_card=a.card)
            if m is not None and metric in m.metrics:
                where = "the same" if base_row.feature_set_id == row.feature_set_id else "the candidate's"
                return base_id, float(m.metrics[metric]), f"{source}, scored on {where} {split} split"
        prev = s.scalars(select(EvaluationRow).where(EvaluationRow.model_version_id == base_id)
                         .order_by(EvaluationRow.created_at.desc()).limit(1)).first()
        if prev is not None:
            for sm in json.loads(prev.splits):
                if sm["split"] == split and metric in sm["metrics"]:
                    return base_id, float(sm["metrics"][metric]), \
                        f"{source}, its recorded {split} score on feature set {base_row.feature_set_id}"
        return None

    def _record(self, s: Session, row: ModelRow, a: Assessment, trigger: str, correlation_id: str,
                causation) -> EvaluationRow:
        ev_row = EvaluationRow(
            evaluation_id=new_id("ev"), project=row.project, model_version_id=row.model_version_id,
            feature_set_id=row.feature_set_id, splits=json.dumps([dataclasses.asdict(m) for m in a.splits]),
            diagnosis=json.dumps(dataclasses.asdict(a.diagnosis)), passed=a.passed, reasons=json.dumps(a.reasons),
            gate_metric=a.gate_metric, gate_split=a.gate_split, candidate_value=a.candidate_value,
            baseline_model_version_id=a.baseline_model_version_id, baseline_value=a.baseline_value,
            trigger=trigger, created_at=utcnow())
        s.add(ev_row)
        self.publisher.stage(s, events.model_evaluated(ev_row, a, correlation_id, causation))
        log.info("evaluated", extra={"model_version_id": row.model_version_id, "passed": a.passed,
                                     "verdict": a.diagnosis.verdict})
        return ev_row

    def get_evaluation(self, evaluation_id: str) -> EvaluationRow:
        require(evaluation_id, "evaluation_id is required")
        with self.store.session() as s:
            return get_or_not_found(s, EvaluationRow, evaluation_id, "evaluation")

    def list_evaluations(self, project: str, size: int, token: str) -> tuple[list[EvaluationRow], str]:
        q = select(EvaluationRow).order_by(EvaluationRow.created_at.desc(), EvaluationRow.evaluation_id.desc())
        if project:
            q = q.where(EvaluationRow.project == project)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    # ==========================================================================================
    # studies
    # ==========================================================================================
    def start_study(self, req: StudyRequest) -> tuple[StudyRow, list[TrialRow]]:
        require(req.project, "project is required")
        require(req.feature_set_id, "feature_set_id is required")
        req.sampler = (req.sampler or "tpe").lower()
        require(req.sampler in SAMPLERS, f"sampler must be one of {list(SAMPLERS)}, got {req.sampler!r}")
        req.pruner = (req.pruner or "median").lower()
        require(req.pruner in PRUNERS, f"pruner must be one of {list(PRUNERS)}, got {req.pruner!r}")
        req.trials = req.trials or 10
        require(1 <= req.trials <= self.settings.max_study_trials,
                f"trials must be in [1, {self.settings.max_study_trials}], got {req.trials}")
        req.parallelism = req.parallelism or 1
        require(1 <= req.parallelism <= self.settings.max_study_parallelism,
                f"parallelism must be in [1, {self.settings.max_study_parallelism}], got {req.parallelism}")
        req.metric = req.metric or "val_loss"
        require(req.metric.startswith("val_"), f"metric must be a validation metric (val_loss, val_accuracy, "
                                               f"val_mae, val_iou), got {req.metric!r}")
        direction = req.direction or ("maximize" if higher_is_better(req.metric) else "minimize")
        require(direction in ("maximize", "minimize"), f"direction must be maximize or minimize, got {direction!r}")
        req.direction = direction
        unknown = set(req.base) - {"params", "model"}
        require(not unknown, f"base may hold params and model only, got {sorted(unknown)}")
        parse_space(req.space)
        study_id = new_id("study")
        runner = StudyRunner(req, self.training, study_id, direction,
                             on_trial=lambda n, f: self._save_trial(study_id, n, f),
                             on_done=lambda f: self._save_study(study_id, f))
        with self.store.session() as s:
            s.add(StudyRow(study_id=study_id, project=req.project, feature_set_id=req.feature_set_id,
                           request=json.dumps(dataclasses.asdict(req)), state="starting", created_at=utcnow()))
        try:
            runner.submit_first()
        except Exception:
            with self.store.session() as s:  # a bad request leaves nothing behind
                for t in s.scalars(select(TrialRow).where(TrialRow.study_id == study_id)).all():
                    s.delete(t)
                s.delete(s.get(StudyRow, study_id))
            raise
        self._save_study(study_id, {"state": "running"})
        self._runners[study_id] = runner
        t = threading.Thread(target=runner.run, name=f"study-{study_id}", daemon=True)
        self._threads.append(t)
        t.start()
        return self.get_study(study_id)

    def _save_trial(self, study_id: str, number: int, f: dict[str, Any]) -> None:
        with self.store.session() as s:
            row = s.get(TrialRow, (study_id, number))
            if row is None:
                row = TrialRow(study_id=study_id, number=number)
                s.add(row)
            for k, v in f.items():
                setattr(row, k, json.dumps(v) if k in ("params", "intermediate") else v)

    def _save_study(self, study_id: str, f: dict[str, Any]) -> None:
        with self.store.session() as s:
            row = s.get(StudyRow, study_id)
            if row is None:
                return
            for k, v in f.items():
                setattr(row, k, json.dumps(v) if k == "best_params" else v)
        if f.get("state") in ("succeeded", "failed"):
            self._runners.pop(study_id, None)

    def get_study(self, study_id: str) -> tuple[StudyRow, list[TrialRow]]:
        require(study_id, "study_id is required")
        with self.store.session() as s:
            row = get_or_not_found(s, StudyRow, study_id, "study")
            trials = s.scalars(select(TrialRow).where(TrialRow.study_id == study_id).order_by(TrialRow.number)).all()
            return row, list(trials)
