"""Hyperparameter studies with Optuna: random or TPE sampling, median pruning of bad trials.

Every trial is a real training run submitted to the training service (trigger `study:<id>`); its
per-epoch validation values arrive through StreamRunMetrics and are reported to the pruner, and
a trial the pruner stops is cancelled with CancelRun. At most `parallelism` trials run at once
(the training service's own concurrency limit still applies on top).

Search space (a JSON object): training params by name, model params as `model.<param>`:
    {"learning_rate": {"low": 1e-4, "high": 1e-1, "log": true},
     "batch_size": {"choices": [16, 32, 64]},
     "model.dropout": {"low": 0.0, "high": 0.5},
     "model.hidden": {"choices": ["[64]", "[128, 64]"]}}      # lists as JSON strings
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import GristmillError, InvalidArgument

log = logging.getLogger(__name__)

HPARAMS = {"learning_rate", "epochs", "batch_size", "optimizer", "momentum", "weight_decay",
           "early_stopping_patience", "lr_schedule", "seed"}
INT_HPARAMS = {"epochs", "batch_size", "early_stopping_patience", "seed"}
SAMPLERS = ("random", "tpe")
PRUNERS = ("median", "none")


@dataclass
class StudyRequest:
    project: str
    feature_set_id: str
    space: dict[str, Any]
    sampler: str = "tpe"
    trials: int = 10
    parallelism: int = 1
    metric: str = "val_loss"
    architecture: str = ""
    base: dict[str, Any] = field(default_factory=dict)
    direction: str = ""
    pruner: str = "median"
    seed: int = 0


def _num(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InvalidArgument(f"space.{name}: bounds must be finite numbers, got {v!r}")
    return float(v)


def parse_space(space: dict[str, Any]):
    """Optuna distributions from the JSON space; InvalidArgument on anything malformed."""
    import optuna.distributions as D

    if not space:
        raise InvalidArgument("space must name at least one parameter")
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if name not in HPARAMS and not (name.startswith("model.") and len(name) > 6):
            raise InvalidArgument(f"space.{name}: unknown parameter; use one of {sorted(HPARAMS)} or model.<param>")
        if not isinstance(spec, dict):
            raise InvalidArgument(f"space.{name} must be an object with low/high or choices")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise InvalidArgument(f"space.{name}.choices must be a non-empty list")
            choices = [int(c) if isinstance(c, float) and c.is_integer() and name in INT_HPARAMS else c
                       for c in choices]
            if any(isinstance(c, list | dict) for c in choices):
                raise InvalidArgument(f"space.{name}.choices: write lists as JSON strings, e.g. \"[64, 32]\"")
            out[name] = D.CategoricalDistribution(choices)
            continue
        if "low" not in spec or "high" not in spec:
            raise InvalidArgument(f"space.{name} needs low and high (or choices)")
        low, high, log_scale = _num(name, spec["low"]), _num(name, spec["high"]), bool(spec.get("log", False))
        if not low < high:
            raise InvalidArgument(f"space.{name}: low ({low:g}) must be below high ({high:g})")
        if log_scale and low <= 0:
            raise InvalidArgument(f"space.{name}: a log scale needs low > 0")
        is_int = spec.get("type") == "int" or (name in INT_HPARAMS and spec.get("type") != "float")
        if is_int:
            if not (low.is_integer() and high.is_integer()):
                raise InvalidArgument(f"space.{name}: integer bounds expected")
            out[name] = D.IntDistribution(int(low), int(high), log=log_scale, step=int(spec.get("step", 1)))
        else:
            out[name] = D.FloatDistribution(low, high, log=log_scale)
    return out


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sampled values -> (training params, model params); JSON-string lists decoded."""
    hp, model = {}, {}
    for k, v in params.items():
        if isinstance(v, str) and v.startswith("[") and k.startswith("model."):
            v = json.loads(v)
        (model if k.startswith("model.") else hp)[k.removeprefix("model.")] = v
    return hp, model


class StudyRunner:
    """Runs one study; `on_trial(number, fields)` and `on_done(fields)` persist progress."""

    def __init__(self, req: StudyRequest, client, study_id: str, direction: str,
                 on_trial: Callable[[int, dict[str, Any]], None], on_done: Callable[[dict[str, Any]], None]) -> None:
        import optuna

        self.req, self.client, self.study_id, self.direction = req, client, study_id, direction
        self.on_trial, self.on_done = on_trial, on_done
        self.dists = parse_space(req.space)
        sampler = (optuna.samplers.RandomSampler(seed=req.seed) if req.sampler == "random" else
                   optuna.samplers.TPESampler(seed=req.seed, n_startup_trials=max(1, min(5, req.trials // 2))))
        pruner = (optuna.pruners.NopPruner() if req.pruner == "none" else
                  optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        self._lock = threading.Lock()
        self._asked = 0
        self._first: tuple[Any, str] | None = None
        self._stopped = threading.Event()

    # -- trials ------------------------------------------------------------------------------------
    def _ask(self):
        with self._lock:
            if self._asked >= self.req.trials:
                return None
            self._asked += 1
            return self.study.ask(self.dists)

    def _submit(self, trial) -> str:
        hp, model = split_params(trial.params)
        return self.client.submit(self.req.project, self.req.feature_set_id, {**self.req.base.get("params", {}),
                                  **hp}, self.req.architecture, {**self.req.base.get("model", {}), **model},
                                  trigger=f"study:{self.study_id}")

    def submit_first(self) -> None:
        """Submit trial 0 synchronously so a bad feature set or space fails StartStudy itself."""
        trial = self._ask()
        run_id = self._submit(trial)  # raises NotFound / InvalidArgument / Unavailable
        self._first = (trial, run_id)
        self.on_trial(trial.number, {"params": trial.params, "run_id": run_id, "state": "running"})

    def _follow(self, trial, run_id: str) -> None:
        import optuna

        intermediate: list[float] = []
        metric = self.req.metric
        try:
            for m in self.client.stream_metrics(run_id):
                if metric != "val_loss" and metric not in ("val_metric", f"val_{m['metric_name']}"):
                    raise InvalidArgument(f"metric {metric} is not reported per epoch; use val_loss or "
                                          f"val_{m['metric_name']}")
                v = m["val_loss"] if metric == "val_loss" else m["val_metric"]
                intermediate.append(v)
                with self._lock:
                    trial.report(v, int(m["epoch"]))
                    prune = trial.should_prune()
                self.on_trial(trial.number, {"intermediate": intermediate})
                if prune:
                    if self.client.cancel(run_id) == "SUCCEEDED":
                        break  # it finished before the cancel took effect: a complete trial, not a pruned one
                    with self._lock:
                        self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    self.on_trial(trial.number, {"state": "pruned", "intermediate": intermediate,
                                                 "message": f"pruned after epoch {int(m['epoch'])}: {v:.4g}"})
                    return
            run = self.client.get_run(run_id)
            if run["state"] != "SUCCEEDED":
                raise RuntimeError(f"run {run_id} ended {run['state']}: {run['message']}")
            mv = self.client.get_model_version(run["model_version_id"])
            key = metric if metric != "val_metric" else next(k for k in mv["metrics"] if k.startswith("val_")
                                                             and k != "val_loss")
            if key not in mv["metrics"]:
                raise InvalidArgument(f"metric {metric} not in the run's metrics {sorted(mv['metrics'])}")
            value = float(mv["metrics"][key])
            with self._lock:
                self.study.tell(trial, value)
            self.on_trial(trial.number, {"state": "complete", "value": value, "intermediate": intermediate,
                                         "model_version_id": mv["model_version_id"]})
        except Exception as exc:  # noqa: BLE001 - one failed trial does not end the study
            with self._lock:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            msg = exc.message if isinstance(exc, GristmillError) else f"{type(exc).__name__}: {exc}"
            self.on_trial(trial.number, {"state": "failed", "message": msg[:2000], "intermediate": intermediate})

    def _worker(self, first: bool) -> None:
        if first and self._first is not None:
            self._follow(*self._first)
        while not self._stopped.is_set():
            trial = self._ask()
            if trial is None:
                return
            try:
                run_id = self._submit(trial)
            except Exception as exc:  # noqa: BLE001
                import optuna

                with self._lock:
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                self.on_trial(trial.number, {"params": trial.params, "state": "failed", "message": str(exc)[:2000]})
                continue
            self.on_trial(trial.number, {"params": trial.params, "run_id": run_id, "state": "running"})
            self._follow(trial, run_id)

    def run(self) -> None:
        try:
            with ThreadPoolExecutor(max_workers=self.req.parallelism, thread_name_prefix=f"study-{self.study_id}") as pool:
                futures = [pool.submit(self._worker, i == 0) for i in range(self.req.parallelism)]
                for f in futures:
                    f.result()
            import optuna

            done = [t for t in self.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
            if not done:
                self.on_done({"state": "failed", "message": "no trial completed"})
                return
            best = self.study.best_trial
            self.on_done({"state": "succeeded", "best_trial": best.number, "best_value": best.value,
                          "best_params": best.params,
                          "message": f"{len(done)} complete, "
                                     f"{sum(t.state == optuna.trial.TrialState.PRUNED for t in self.study.trials)} "
                                     f"pruned, {sum(t.state == optuna.trial.TrialState.FAIL for t in self.study.trials)} failed"})
        except Exception as exc:  # noqa: BLE001
            log.exception("study failed", extra={"study_id": self.study_id})
            self.on_done({"state": "failed", "message": f"{type(exc).__name__}: {exc}"[:2000]})

    def stop(self) -> None:
        self._stopped.set()
