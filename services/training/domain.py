"""Training domain: specs -> queued runs -> pipeline executions -> model versions (no grpc here).

A run's life:
    SubmitRun / FeaturesReady (+ project policy) -> QUEUED (validated, job resolved, nothing else
    written) -> RUNNING when a slot is free (at most `max_concurrent_runs`) -> the executor runs
    the KFP pipeline; epoch metrics and checkpoints land in the run dir, which a watcher copies
    into the database and the live metric streams -> SUCCEEDED (model version: weights, card,
    curve PNG; ModelTrained staged in the same transaction) | FAILED | CANCELLED.

A service that dies mid-run finds the run RUNNING when it starts again: it stops any leftover
driver process and queues the run again; the pipeline resumes from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common import modelzoo
from services.common.artifacts import ArtifactStore
from services.common.bus import Publisher
from services.common.errors import (
    FailedPrecondition,
    GristmillError,
    InvalidArgument,
    NotFound,
    require,
)
from services.common.ids import new_id
from services.common.store import Store, get_or_not_found, paginate, utcnow
from services.training import events
from services.training.config import TrainingSettings
from services.training.executors import Execution, kill_group, stale_driver_alive
from services.training.plots import training_curve_png
from services.training.rundir import RunDir
from services.training.tables import (
    AutoTrainGuard,
    EpochRow,
    FeatureSetRow,
    ModelVersionRow,
    PolicyRow,
    RunRow,
)
from services.training.trainer import resolve_hparams

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass
class FeatureSetInfo:
    feature_set_id: str
    project: str
    dataset_version_id: str
    task: str
    input_shape: list[int]
    num_classes: int
    class_names: list[str]
    splits: dict[str, dict[str, Any]]
    transform: dict[str, Any]
    split_rows: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelSpec:
    architecture: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    finetune_from: str = ""
    freeze: list[str] = field(default_factory=list)
    new_head: bool = False


@dataclass
class TrainingSpec:
    project: str
    feature_set_id: str
    model: ModelSpec = field(default_factory=ModelSpec)
    params: dict[str, Any] = field(default_factory=dict)   # TrainingParams fields; 0/"" = default
    correlation_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingSpec:
        return cls(project=d["project"], feature_set_id=d["feature_set_id"], model=ModelSpec(**d.get("model", {})),
                   params=dict(d.get("params", {})), correlation_id=d.get("correlation_id", ""))

    def fingerprint(self) -> str:
        """What makes two trainings the same: data, model and training params (not ids)."""
        d = self.to_dict()
        d.pop("correlation_id")
        d.pop("project")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Policy:
    project: str
    auto_train: bool = False
    model: ModelSpec = field(default_factory=ModelSpec)
    params: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    updated_at: dt.datetime | None = None
    retrain_on_drift: bool = False
    retrain_pending: bool = False


def _ref(a) -> dict[str, Any]:
    return {"uri": a.uri, "sha256": a.sha256, "size_bytes": a.size_bytes, "media_type": a.media_type}


class TrainingDomain:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: Publisher, settings: TrainingSettings,
                 executor, feature_lookup: Callable[[str], FeatureSetInfo | None] | None = None) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings
        self.executor = executor
        self.feature_lookup = feature_lookup
        self._lock = threading.Lock()
        self._active: dict[str, Execution | None] = {}
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._changed = threading.Condition()
        self._dispatcher: threading.Thread | None = None
        self._threads: list[threading.Thread] = []

    # ==========================================================================================
    # lifecycle
    # ==========================================================================================
    def start(self) -> None:
        self._recover()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="training-dispatch", daemon=True)
        self._dispatcher.start()

    def close(self) -> None:
        """Stop dispatching; running runs stay RUNNING and resume at the next start."""
        self._closing.set()
        self._wake.set()
        if self._dispatcher:
            self._dispatcher.join(timeout=5)
        for t in list(self._threads):
            t.join(timeout=15)

    def _recover(self) -> None:
        with self.store.session() as s:
            rows = s.scalars(select(RunRow).where(RunRow.state == RUNNING)).all()
            for row in rows:
                if row.executor == "kfp" and row.kfp_run_id:
                    continue  # the cluster run went on without us; re-attached by the dispatcher
                if stale_driver_alive(row.pid, row.run_id):
                    log.warning("stopping leftover driver of an interrupted run", extra={"run_id": row.run_id})
                    kill_group(row.pid)
                epoch = self._rundir(row.run_id).checkpoint_epoch()
                row.state = QUEUED
                row.pid = 0
                row.resumed_from_epoch = epoch
                row.message = (f"interrupted; resuming from the checkpoint of epoch {epoch}" if epoch
                               else "interrupted before the first checkpoint; starting again")
                log.info("run will resume", extra={"run_id": row.run_id, "from_epoch": epoch})
        self._wake.set()

    # ==========================================================================================
    # feature sets
    # ==========================================================================================
    def record_feature_set(self, s: Session, info: FeatureSetInfo) -> FeatureSetRow:
        row = s.get(FeatureSetRow, info.feature_set_id)
        if row is None:
            row = FeatureSetRow(feature_set_id=info.feature_set_id)
            s.add(row)
        row.project, row.dataset_version_id, row.task = info.project, info.dataset_version_id, info.task
        row.input_shape = json.dumps([int(d) for d in info.input_shape])
        row.num_classes = int(info.num_classes)
        if info.class_names or not row.class_names:
            row.class_names = json.dumps(list(info.class_names))
        row.splits, row.transform = json.dumps(info.splits), json.dumps(info.transform)
        row.split_rows = json.dumps({k: int(v) for k, v in info.split_rows.items()})
        return row

    def _feature_set(self, s: Session, feature_set_id: str) -> FeatureSetRow:
        row = s.get(FeatureSetRow, feature_set_id)
        if row is not None:
            if row.task == "classification" and row.class_names == "[]" and self.feature_lookup:
                try:  # FeaturesReady carries no class names; preprocessing knows them
                    info = self.feature_lookup(feature_set_id)
                    if info is not None and info.class_names:
                        row.class_names = json.dumps(list(info.class_names))
                except Exception as exc:  # noqa: BLE001 - names are a nicety; indices still work
                    log.info("class names unavailable", extra={"feature_set_id": feature_set_id, "error": str(exc)})
            return row
        info = self.feature_lookup(feature_set_id) if self.feature_lookup else None
        if info is None:
            raise NotFound(f"unknown feature set {feature_set_id!r}: no FeaturesReady announced it"
                           + ("" if self.feature_lookup else " (and no preprocessing address is configured)"))
        return self.record_feature_set(s, info)

    def _num_outputs(self, fs: FeatureSetRow) -> int:
        if fs.task == "classification":
            if fs.num_classes < 2:
                raise FailedPrecondition(f"feature set {fs.feature_set_id} has {fs.num_classes} classes; "
                                         "classification needs at least 2")
            return fs.num_classes
        if fs.task == "detection":
            return 4 + max(1, fs.num_classes)
        if not fs.target_width:
            ref = json.loads(fs.splits)["train"]
            with np.load(io.BytesIO(self.artifacts.read_bytes(ref["uri"], ref.get("sha256", ""))),
                         allow_pickle=False) as z:
                y = z["y"]
            fs.target_width = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
        return fs.target_width

    # ==========================================================================================
    # submitting
    # ==========================================================================================
    def _prepare(self, s: Session, spec: TrainingSpec, run_id: str) -> dict[str, Any]:
        """Validate everything and resolve the job the pipeline runs. Raises before any write."""
        require(spec.project, "spec.project is required")
        require(spec.feature_set_id, "spec.feature_set_id is required")
        hp = resolve_hparams(spec.params)
        fs = self._feature_set(s, spec.feature_set_id)
        if fs.project and fs.project != spec.project:
            raise InvalidArgument(f"feature set {fs.feature_set_id} belongs to project {fs.project!r}, "
                                  f"not {spec.project!r}")
        input_shape = json.loads(fs.input_shape)
        num_outputs = self._num_outputs(fs)
        m = spec.model
        finetune = None
        if m.finetune_from:
            base_row = s.get(ModelVersionRow, m.finetune_from)
            if base_row is None:
                raise NotFound(f"model version {m.finetune_from!r} (finetune_from) does not exist")
            card_ref = json.loads(base_row.card)
            base = modelzoo.ModelCard.from_json(self.artifacts.read_bytes(card_ref["uri"], card_ref["sha256"]))
            if m.architecture and m.architecture != base.architecture:
                raise InvalidArgument(f"fine-tuning keeps the base architecture {base.architecture!r}; "
                                      f"got {m.architecture!r}")
            if not modelzoo.is_torch(base.architecture):
                raise InvalidArgument(f"{base.architecture} models cannot be fine-tuned; train a new one")
            if m.params:
                raise InvalidArgument("fine-tuning keeps the base model's params; leave model.params empty")
            if base.task != fs.task:
                raise InvalidArgument(f"base model is for {base.task}, feature set is {fs.task}")
            if list(base.input_shape) != list(input_shape):
                raise InvalidArgument(f"base model takes input_shape {base.input_shape}, feature set has "
                                      f"{input_shape}")
            if not m.new_head and base.num_outputs != num_outputs:
                raise InvalidArgument(f"base model has {base.num_outputs} outputs, the feature set needs "
                                      f"{num_outputs}: set new_head")
            module = modelzoo.build_model(base.task, base.architecture, base.params, base.input_shape,
                                          base.num_outputs)
            modelzoo.freeze(module, list(m.freeze))  # unknown prefixes -> InvalidArgument
            weights = json.loads(base_row.weights)
            finetune = {"model_version_id": base_row.model_version_id, "weights_uri": weights["uri"],
                        "weights_sha256": weights["sha256"], "card": json.loads(base.to_json()),
                        "freeze": list(m.freeze), "new_head": bool(m.new_head)}
            arch, params = base.architecture, base.params
        else:
            if m.freeze or m.new_head:
                raise InvalidArgument("model.freeze and model.new_head apply only with model.finetune_from")
            arch = m.architecture or modelzoo.default_architecture(fs.task, input_shape)
            params = modelzoo.resolve_params(arch, m.params)
            modelzoo.build_model(fs.task, arch, params, input_shape, num_outputs)  # shapes fit?
        run_dir = self._rundir_uri(run_id)
        rundir_local = run_dir.startswith("file://")
        return {
            "run_id": run_id, "project": spec.project, "feature_set_id": fs.feature_set_id, "task": fs.task,
            "architecture": arch, "params": params, "input_shape": input_shape, "num_outputs": num_outputs,
            "class_names": json.loads(fs.class_names), "hparams": hp, "data": json.loads(fs.splits),
            "artifact_uri": self.settings.artifact_uri, "s3_endpoint_url": self.settings.s3_endpoint_url,
            "run_dir": run_dir, "threads": self.settings.torch_threads, "finetune": finetune,
            "pipeline_root": (run_dir.removeprefix("file://") + "/kfp") if rundir_local else "",
        }

    def submit(self, spec: TrainingSpec, trigger: str = "rpc") -> RunRow:
        trigger = trigger or "rpc"
        require(trigger == "rpc" or trigger.startswith("study:") or trigger == "retrain",
                f"trigger must be rpc, retrain or study:<id>, got {trigger!r}")
        self.executor.check_available()  # cluster mode: no KFP endpoint -> UNAVAILABLE, nothing written
        run_id = new_id("run")
        with self.store.session() as s:
            job = self._prepare(s, spec, run_id)
            row = self._new_run(s, run_id, spec, job, trigger, causation_id="")
        self._wake.set()
        return row

    def _new_run(self, s: Session, run_id: str, spec: TrainingSpec, job: dict[str, Any], trigger: str,
                 causation_id: str) -> RunRow:
        row = RunRow(run_id=run_id, project=spec.project, feature_set_id=spec.feature_set_id,
                     spec=json.dumps(spec.to_dict(), sort_keys=True), spec_hash=spec.fingerprint(),
                     job=json.dumps(job, sort_keys=True), state=QUEUED, trigger=trigger,
                     executor=self.executor.name, correlation_id=spec.correlation_id or new_id("corr"),
                     causation_id=causation_id, created_at=utcnow(), message="queued")
        s.add(row)
        return row

    # ==========================================================================================
    # events in
    # ==========================================================================================
    def on_features_ready(self, event, s: Session) -> None:
        """Record the feature set; train it when the project's policy says so (once per spec)."""
        info = events.feature_set_info(event)
        self.record_feature_set(s, info)
        row = s.get(PolicyRow, info.project)
        if row is None or not (row.auto_train or row.retrain_pending):
            log.info("feature set recorded; no auto-train policy", extra={"feature_set_id": info.feature_set_id,
                                                                           "project": info.project})
            return
        trigger = "retrain" if row.retrain_pending else "features-ready"
        if self._train_from_policy(s, row, info.feature_set_id, event, trigger) and trigger == "retrain":
            row.retrain_pending = False

    def on_degradation(self, event, s: Session) -> None:
        """DriftDetected / ModelDegraded: retrain on the freshest untrained feature set, or wait for one."""
        project = event.meta.project
        row = s.get(PolicyRow, project)
        if row is None or not row.retrain_on_drift:
            log.info("degradation noted; the project's policy does not retrain on it", extra={"project": project})
            return
        latest = s.scalar(select(FeatureSetRow).where(FeatureSetRow.project == project)
                          .order_by(FeatureSetRow.recorded_at.desc()).limit(1))
        if latest is not None and self._train_from_policy(s, row, latest.feature_set_id, event, "retrain"):
            return
        row.retrain_pending = True  # nothing fresh to learn from yet: the next FeaturesReady retrains
        log.info("retrain pending until fresh features arrive", extra={"project": project})

    def _train_from_policy(self, s: Session, row: PolicyRow, feature_set_id: str, event, trigger: str) -> bool:
        """Queue a run of the policy's spec on a feature set, unless that pair already ran. True if queued."""
        policy = self._policy_from_row(row)
        spec = TrainingSpec(project=row.project, feature_set_id=feature_set_id, model=policy.model,
                            params=dict(policy.params), correlation_id=event.meta.correlation_id)
        fingerprint = spec.fingerprint()
        guard = s.get(AutoTrainGuard, (feature_set_id, fingerprint))
        if guard is not None:
            log.info("feature set already trained with this spec; not training twice",
                     extra={"feature_set_id": feature_set_id, "run_id": guard.run_id})
            return False
        run_id = new_id("run")
        try:
            job = self._prepare(s, spec, run_id)
        except (InvalidArgument, NotFound, FailedPrecondition) as exc:
            exc.permanent = True  # a bad policy or feature set will not get better on retry
            raise
        self._new_run(s, run_id, spec, job, trigger, causation_id=event.meta.event_id)
        s.add(AutoTrainGuard(feature_set_id=feature_set_id, spec_hash=fingerprint, run_id=run_id))
        log.info("training queued", extra={"run_id": run_id, "feature_set_id": feature_set_id, "trigger": trigger})
        self._wake.set()
        return True

    # ==========================================================================================
    # dispatching and executing
    # ==========================================================================================
    def _rundir_uri(self, run_id: str) -> str:
        return f"{self.settings.run_root.rstrip('/')}/{run_id}"

    def _rundir(self, run_id: str) -> RunDir:
        return RunDir(self._rundir_uri(run_id))

    def _dispatch_loop(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                self._dispatch_once()
            except Exception:  # noqa: BLE001 - keep dispatching
                log.exception("dispatch failed")

    def _dispatch_once(self) -> None:
        with self._lock:
            free = self.settings.max_concurrent_runs - len(self._active)
        if free <= 0:
            return
        with self.store.session() as s:
            reattach = [r.run_id for r in s.scalars(select(RunRow).where(
                RunRow.state == RUNNING, RunRow.executor == "kfp", RunRow.kfp_run_id != "")).all()
                if r.run_id not in self._active]
            queued = s.scalars(select(RunRow.run_id).where(RunRow.state == QUEUED)
                               .order_by(RunRow.created_at, RunRow.run_id).limit(free)).all()
        for run_id in reattach:
            self._launch(run_id, reattach=True)
        for run_id in queued:
            with self.store.session() as s:
                claimed = s.execute(update(RunRow).where(RunRow.run_id == run_id, RunRow.state == QUEUED).values(
                    state=RUNNING, attempts=RunRow.attempts + 1, started_at=func.coalesce(RunRow.started_at, utcnow()),
                    executor=self.executor.name, message="running")).rowcount
            if claimed:
                self._launch(run_id)

    def _launch(self, run_id: str, reattach: bool = False) -> None:
        with self._lock:
            if run_id in self._active:
                return
            self._active[run_id] = None
        t = threading.Thread(target=self._execute, args=(run_id, reattach), name=f"run-{run_id}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        self._notify()

    def _execute(self, run_id: str, reattach: bool) -> None:
        try:
            self._execute_inner(run_id, reattach)
        except Exception as exc:  # noqa: BLE001 - the run fails; the service goes on
            log.exception("run failed", extra={"run_id": run_id})
            code = exc.code + ": " if isinstance(exc, GristmillError) else ""
            self._end(run_id, FAILED, f"{code}{type(exc).__name__}: {exc}"[:4000])
        finally:
            with self._lock:
                self._active.pop(run_id, None)
            self._wake.set()
            self._notify()

    def _execute_inner(self, run_id: str, reattach: bool) -> None:
        row = self.get_run(run_id)
        job = json.loads(row.job)
        rundir = self._rundir(run_id)
        rundir.write_json("job.json", job)
        result = rundir.read_json("result.json")
        if result and not reattach:  # finished while the service was away
            self._tail(run_id, rundir)
            self._finish(run_id, result)
            return
        if row.cancel_requested:
            rundir.request_cancel()
        execution = (self.executor.reattach(job, rundir, row.kfp_run_id) if reattach else None) or \
            self.executor.start(job, rundir)
        with self._lock:
            self._active[run_id] = execution
        with self.store.session() as s:
            r = s.get(RunRow, run_id)
            r.pid, r.kfp_run_id = execution.pid, execution.kfp_run_id or r.kfp_run_id
        ok: bool | None = None
        while ok is None:
            ok = execution.poll()
            self._tail(run_id, rundir)
            if ok is None:
                if self._closing.is_set():
                    self._leave_for_restart(run_id, execution)
                    return
                time.sleep(0.3)
        self._tail(run_id, rundir)
        row = self.get_run(run_id)
        if row.cancel_requested or rundir.cancel_requested():
            self._end(run_id, CANCELLED, "cancelled")
        elif ok:
            result = rundir.read_json("result.json")
            if not result:
                raise FailedPrecondition("the pipeline succeeded but wrote no result.json")
            self._finish(run_id, result)
        else:
            self._end(run_id, FAILED, execution.error() or "pipeline failed")

    def _leave_for_restart(self, run_id: str, execution: Execution) -> None:
        """Service shutdown: stop the local work; the run stays RUNNING and resumes next start."""
        if self.executor.name == "kfp-local" and execution.pid:
            kill_group(execution.pid)
        elif self.executor.name == "inline":
            execution.stop()

    def _tail(self, run_id: str, rundir: RunDir) -> None:
        """Copy new epoch records from the run dir into the database and wake streams."""
        with self.store.session() as s:
            last = s.scalar(select(func.max(EpochRow.epoch)).where(EpochRow.run_id == run_id)) or 0
        records = rundir.epochs(after=0 if last == 0 else last)
        if not records:
            return
        with self.store.session() as s:
            for rec in records:
                s.merge(EpochRow(run_id=run_id, epoch=int(rec["epoch"]), train_loss=rec["train_loss"],
                                 val_loss=rec["val_loss"], train_metric=rec["train_metric"],
                                 val_metric=rec["val_metric"], metric_name=rec["metric_name"],
                                 learning_rate=rec["learning_rate"], seconds=rec["seconds"]))
            r = s.get(RunRow, run_id)
            r.epochs_done = max(r.epochs_done, max(int(x["epoch"]) for x in records))
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _end(self, run_id: str, state: str, message: str) -> None:
        with self.store.session() as s:
            r = s.get(RunRow, run_id)
            if r is None or r.state in TERMINAL:
                return
            r.state, r.message, r.finished_at = state, message, utcnow()
        log.info("run ended", extra={"run_id": run_id, "state": state, "msg": message[:300]})
        self._notify()

    def _finish(self, run_id: str, result: dict[str, Any]) -> None:
        """Register the model version (artifacts first, then rows + ModelTrained in one transaction)."""
        row = self.get_run(run_id)
        if row.state in TERMINAL:
            return
        job = json.loads(row.job)
        with self.store.session() as s:
            fs = s.get(FeatureSetRow, row.feature_set_id)
            fs_info = (json.loads(fs.transform), fs.dataset_version_id) if fs else ({}, "")
        transform, dataset_version_id = fs_info
        spec = TrainingSpec.from_dict(json.loads(row.spec))
        hp = job["hparams"]
        mv_id = new_id("mv")
        arch = job["finetune"]["card"]["architecture"] if job.get("finetune") else job["architecture"]
        metrics = {k: float(v) for k, v in {**result["metrics"], **result.get("test_metrics", {})}.items()}
        history = result["history"]
        curve = self.artifacts.put_bytes(training_curve_png(history, f"{row.project} · {arch} · {run_id}"),
                                         "image/png")
        card = modelzoo.ModelCard(
            model_version_id=mv_id, project=row.project, task=job["task"], architecture=arch,
            params=job["params"], input_shape=job["input_shape"], num_outputs=job["num_outputs"],
            class_names=job["class_names"] or ([str(i) for i in range(job["num_outputs"])]
                                               if job["task"] == "classification" else []),
            framework="sklearn" if arch in modelzoo.SKLEARN_ARCHITECTURES else "torch",
            optimizer={"name": hp["optimizer"], "learning_rate": hp["learning_rate"], "momentum": hp["momentum"],
                       "weight_decay": hp["weight_decay"]},
            training={"epochs": hp["epochs"], "batch_size": hp["batch_size"], "lr_schedule": hp["lr_schedule"],
                      "early_stopping_patience": hp["early_stopping_patience"], "seed": hp["seed"],
                      "epochs_trained": history[-1]["epoch"] if history else 0, "best_epoch": result["best_epoch"],
                      "stopped_early": result["stopped_early"], "resumed_from_epoch": result["resumed_from"],
                      "history": history, "target_scaler": result.get("target_scaler"),
                      "finetuned_from": (job.get("finetune") or {}).get("model_version_id", ""),
                      "frozen": result.get("frozen", []), "data": job["data"], "metric_name": result["metric_name"],
                      "executor": row.executor, "trigger": row.trigger,
                      "samples_per_second": result.get("samples_per_second", 0.0),
                      "curve_uri": curve.uri, "curve_sha256": curve.sha256},
            feature_set_id=row.feature_set_id, dataset_version_id=dataset_version_id, run_id=run_id,
            metrics=metrics, weights_uri=result["weights"]["uri"], weights_sha256=result["weights"]["sha256"],
            transform_uri=transform.get("uri", ""), transform_sha256=transform.get("sha256", ""),
            created_at=utcnow().isoformat())
        card_art = self.artifacts.put_bytes(card.to_json().encode(), "application/json")
        weights = {**result["weights"], "media_type": "application/vnd.safetensors"}
        self.artifacts.read_bytes(weights["uri"], weights["sha256"])[:0]  # the weights must be there
        with self.store.session() as s:
            r = s.get(RunRow, run_id)
            if r.state in TERMINAL:
                return
            mv = ModelVersionRow(
                model_version_id=mv_id, project=r.project, run_id=run_id, feature_set_id=r.feature_set_id,
                dataset_version_id=dataset_version_id, task=job["task"], architecture=arch,
                weights=json.dumps(weights), card=json.dumps(_ref(card_art)), curve=json.dumps(_ref(curve)),
                transform=json.dumps(transform), metrics=json.dumps(metrics), trigger=r.trigger,
                finetuned_from=card.training["finetuned_from"], created_at=utcnow())
            s.add(mv)
            r.state, r.model_version_id, r.finished_at = SUCCEEDED, mv_id, utcnow()
            r.message = "succeeded" + (f" (resumed from epoch {result['resumed_from']})" if result["resumed_from"]
                                       else "")
            r.epochs_done = max(r.epochs_done, card.training["epochs_trained"])
            self.publisher.stage(s, events.model_trained(mv, r, spec))  # the commit wakes the outbox relay
        log.info("model version registered", extra={"run_id": run_id, "model_version_id": mv_id})
        self._notify()

    # ==========================================================================================
    # queries and control
    # ==========================================================================================
    def get_run(self, run_id: str) -> RunRow:
        require(run_id, "run_id is required")
        with self.store.session() as s:
            return get_or_not_found(s, RunRow, run_id, "run")

    def list_runs(self, project: str, size: int, token: str) -> tuple[list[RunRow], str]:
        q = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.run_id.desc())
        if project:
            q = q.where(RunRow.project == project)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    def cancel(self, run_id: str) -> RunRow:
        row = self.get_run(run_id)
        if row.state in TERMINAL:
            raise FailedPrecondition(f"run {run_id} already ended ({row.state}); nothing to cancel")
        with self.store.session() as s:
            done = s.execute(update(RunRow).where(RunRow.run_id == run_id, RunRow.state == QUEUED).values(
                state=CANCELLED, message="cancelled before it started", finished_at=utcnow(),
                cancel_requested=True)).rowcount
            if not done:
                s.execute(update(RunRow).where(RunRow.run_id == run_id).values(cancel_requested=True,
                                                                               message="cancelling"))
        if done:
            self._notify()
            return self.get_run(run_id)
        self._rundir(run_id).request_cancel()
        with self._lock:
            execution = self._active.get(run_id)
        if execution is not None:
            execution.stop()
        deadline = time.monotonic() + self.settings.cancel_wait_seconds
        while time.monotonic() < deadline:
            row = self.get_run(run_id)
            if row.state in TERMINAL:
                return row
            with self._changed:
                self._changed.wait(0.3)
        return self.get_run(run_id)

    def epochs(self, run_id: str, after: int = 0) -> list[EpochRow]:
        with self.store.session() as s:
            return list(s.scalars(select(EpochRow).where(EpochRow.run_id == run_id, EpochRow.epoch > after)
                                  .order_by(EpochRow.epoch)).all())

    def stream_metrics(self, run_id: str, alive: Callable[[], bool] = lambda: True) -> Iterator[EpochRow]:
        """Recorded epochs, then live ones as they land, until the run ends or the caller leaves."""
        self.get_run(run_id)
        last = 0
        while True:
            for rec in self.epochs(run_id, last):
                last = rec.epoch
                yield rec
            if self.get_run(run_id).state in TERMINAL:
                for rec in self.epochs(run_id, last):
                    yield rec
                return
            if not alive() or self._closing.is_set():
                return
            with self._changed:
                self._changed.wait(0.5)

    def get_model_version(self, model_version_id: str) -> ModelVersionRow:
        require(model_version_id, "model_version_id is required")
        with self.store.session() as s:
            return get_or_not_found(s, ModelVersionRow, model_version_id, "model version")

    def list_model_versions(self, project: str, size: int, token: str) -> tuple[list[ModelVersionRow], str]:
        q = select(ModelVersionRow).order_by(ModelVersionRow.created_at.desc(),
                                             ModelVersionRow.model_version_id.desc())
        if project:
            q = q.where(ModelVersionRow.project == project)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    # ==========================================================================================
    # policies
    # ==========================================================================================
    @staticmethod
    def _policy_from_row(row: PolicyRow) -> Policy:
        return Policy(project=row.project, auto_train=row.auto_train, model=ModelSpec(**json.loads(row.model)),
                      params=json.loads(row.params), revision=row.revision, updated_at=row.updated_at,
                      retrain_on_drift=row.retrain_on_drift, retrain_pending=row.retrain_pending)

    def put_policy(self, policy: Policy) -> Policy:
        require(policy.project, "policy.project is required")
        resolve_hparams(policy.params)
        m = policy.model
        if m.architecture:
            modelzoo.resolve_params(m.architecture, m.params)
        elif m.params:
            raise InvalidArgument("model.params need model.architecture (defaults differ by architecture)")
        if (m.freeze or m.new_head) and not m.finetune_from:
            raise InvalidArgument("model.freeze and model.new_head apply only with model.finetune_from")
        with self.store.session() as s:
            if m.finetune_from and s.get(ModelVersionRow, m.finetune_from) is None:
                raise NotFound(f"model version {m.finetune_from!r} (finetune_from) does not exist")
            row = s.get(PolicyRow, policy.project)
            if row is None:
                row = PolicyRow(project=policy.project, revision=0)
                s.add(row)
            row.auto_train = policy.auto_train
            row.retrain_on_drift = policy.retrain_on_drift
            row.model = json.dumps(dataclasses.asdict(m), sort_keys=True)
            row.params = json.dumps(policy.params, sort_keys=True)
            row.revision = (row.revision or 0) + 1
            row.updated_at = utcnow()
            s.flush()
            return self._policy_from_row(row)

    def get_policy(self, project: str) -> Policy:
        require(project, "project is required")
        with self.store.session() as s:
            row = s.get(PolicyRow, project)
            if row is None:
                raise NotFound(f"project {project!r} has no training policy")
            return self._policy_from_row(row)
