"""The training loop: one function from arrays + hyperparameters to fitted weights.

Used by the pipeline's train step (inside a KFP task), by the inline executor and by the
benchmark. It never touches the service database or gRPC: it talks to the outside world only
through a `RunDir` (epoch metrics, checkpoints, the cancel flag).

* Losses follow the task: cross-entropy (classification), MSE on standardized targets
  (regression, forecasting), smooth-L1 on sigmoid boxes + cross-entropy on classes (detection).
* Optimizers: sgd (momentum), adagrad, adadelta, adam, adamw. Schedules: none, step, cosine.
* Early stopping on validation loss with `patience` epochs; the best weights are kept.
* A checkpoint after every epoch (model + optimizer tensors in safetensors, scalars in JSON):
  a run started again on the same run dir continues after the last finished epoch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.common import modelzoo
from services.common.errors import InvalidArgument
from services.training.rundir import RunDir

OPTIMIZERS = ("sgd", "adagrad", "adadelta", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine")
METRIC_BY_TASK = {"classification": "accuracy", "regression": "mae", "forecasting": "mae", "detection": "iou"}
HIGHER_IS_BETTER = {"accuracy": True, "iou": True, "mae": False}
DEFAULT_HPARAMS: dict[str, Any] = {
    "learning_rate": 1e-3, "epochs": 10, "batch_size": 32, "optimizer": "adam", "momentum": 0.0,
    "weight_decay": 0.0, "early_stopping_patience": 0, "lr_schedule": "none", "seed": 0,
}
MAX_EPOCHS = 10_000
MAX_BATCH = 1 << 16


class Cancelled(Exception):
    """The run was asked to stop (CANCEL file) or lost its owner."""


def resolve_hparams(given: dict[str, Any]) -> dict[str, Any]:
    """Defaults for unset (zero/empty) values, then validation; InvalidArgument names the problem."""
    hp = dict(DEFAULT_HPARAMS)
    for k, v in given.items():
        if k not in hp:
            raise InvalidArgument(f"unknown training param {k!r}; valid: {sorted(hp)}")
        if v not in (None, "", 0, 0.0) or k in ("seed",):
            hp[k] = v
    hp["optimizer"] = str(hp["optimizer"]).lower()
    hp["lr_schedule"] = str(hp["lr_schedule"]).lower()
    if hp["optimizer"] not in OPTIMIZERS:
        raise InvalidArgument(f"unknown optimizer {hp['optimizer']!r}; valid: {list(OPTIMIZERS)}")
    if hp["lr_schedule"] not in SCHEDULES:
        raise InvalidArgument(f"unknown lr_schedule {hp['lr_schedule']!r}; valid: {list(SCHEDULES)}")
    lr = float(hp["learning_rate"])
    if not math.isfinite(lr) or lr <= 0 or lr > 10:
        raise InvalidArgument(f"learning_rate must be in (0, 10], got {lr}")
    hp["learning_rate"] = lr
    for k, hi in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH)):
        v = hp[k]
        if int(v) != v or not 1 <= int(v) <= hi:
            raise InvalidArgument(f"{k} must be an integer in [1, {hi}], got {v}")
        hp[k] = int(v)
    for k in ("momentum", "weight_decay"):
        v = float(hp[k])
        if not math.isfinite(v) or v < 0 or (k == "momentum" and v >= 1):
            raise InvalidArgument(f"{k} must be {'in [0, 1)' if k == 'momentum' else '>= 0'}, got {v}")
        hp[k] = v
    p = hp["early_stopping_patience"]
    if int(p) != p or p < 0:
        raise InvalidArgument(f"early_stopping_patience must be an integer >= 0, got {p}")
    hp["early_stopping_patience"] = int(p)
    hp["seed"] = int(hp["seed"])
    return hp


@dataclass
class FitResult:
    weights: bytes
    history: list[dict[str, Any]]
    metric_name: str
    best_epoch: int
    stopped_early: bool
    resumed_from: int
    target_scaler: dict[str, list[float]] | None
    frozen: list[str] = field(default_factory=list)
    samples_per_second: float = 0.0

    def summary(self) -> dict[str, float]:
        """Flat metrics for the model card and ModelTrained: best epoch's values."""
        best = next((h for h in self.history if h["epoch"] == self.best_epoch), self.history[-1])
        m = self.metric_name
        return {f"train_{m}": best["train_metric"], f"val_{m}": best["val_metric"],
                "train_loss": best["train_loss"], "val_loss": best["val_loss"],
                "best_epoch": float(self.best_epoch), "epochs_trained": float(self.history[-1]["epoch"])}


# ----------------------------------------------------------------------------------------------
# torch helpers
# ----------------------------------------------------------------------------------------------
def make_optimizer(name: str, params, hp: dict[str, Any]):
    import torch

    lr, wd = hp["learning_rate"], hp["weight_decay"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=hp["momentum"], weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise InvalidArgument(f"unknown optimizer {name!r}; valid: {list(OPTIMIZERS)}")


def make_scheduler(name: str, optimizer, epochs: int):
    import torch

    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return None


def optimizer_state_to_files(optimizer) -> tuple[bytes, dict[str, Any]]:
    """Optimizer state without pickle: tensors -> safetensors, everything else -> JSON."""
    import torch
    from safetensors.torch import save

    sd = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    return save(tensors) if tensors else save({"__empty__": torch.zeros(1)}), {
        "param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state_from_files(tensor_bytes: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    from safetensors.torch import load

    state: dict[int, dict[str, Any]] = {}
    for key, t in load(tensor_bytes).items():
        if key == "__empty__":
            continue
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = t
    for key, v in meta.get("scalars", {}).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def _batch_metric_sum(task: str, out, y, y_std):
    """Sum over the batch of the task metric (accuracy count, absolute error, IoU)."""
    import torch

    if task == "classification":
        return (out.argmax(1) == y).sum()
    if task == "detection":
        return box_iou(torch.sigmoid(out[:, :4]), y[:, :4]).sum()
    return ((out - y).abs() * y_std).mean(dim=1).sum()


def box_iou(a, b):
    """Element-wise IoU of (x1, y1, x2, y2) boxes; works on torch tensors and numpy arrays."""
    ix1 = _maximum(a[:, 0], b[:, 0])
    iy1 = _maximum(a[:, 1], b[:, 1])
    ix2 = _minimum(a[:, 2], b[:, 2])
    iy2 = _minimum(a[:, 3], b[:, 3])
    inter = (ix2 - ix1).clip(0) * (iy2 - iy1).clip(0)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    return inter / (area_a + area_b - inter + 1e-9)


def _maximum(a, b):
    return np.maximum(a, b) if isinstance(a, np.ndarray) else a.maximum(b)


def _minimum(a, b):
    return np.minimum(a, b) if isinstance(a, np.ndarray) else a.minimum(b)


class Trainer:
    """Fits one model. `fit()` resumes from the run dir's checkpoint when there is one."""

    def __init__(self, task: str, architecture: str, params: dict[str, Any], input_shape: list[int],
                 num_outputs: int, hparams: dict[str, Any], rundir: RunDir | None = None,
                 finetune: dict[str, Any] | None = None, should_stop: Callable[[], bool] | None = None,
                 checkpoint_every: int = 1, device: str = "") -> None:
        self.task, self.architecture = task, architecture
        self.params = modelzoo.resolve_params(architecture, params)
        self.input_shape, self.num_outputs = [int(d) for d in input_shape], int(num_outputs)
        self.hp = resolve_hparams(hparams)
        self.rundir, self.finetune = rundir, finetune
        self.should_stop = should_stop
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.metric_name = METRIC_BY_TASK[task]
        self._last_check = 0.0

    # -- cancellation ---------------------------------------------------------------------------
    def _check_cancel(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_check < 0.5:
            return
        self._last_check = now
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("run cancelled")
        if self.rundir is not None and self.rundir.cancel_requested():
            raise Cancelled("run cancelled")

    # -- model ----------------------------------------------------------------------------------
    def build(self):
        if self.finetune:
            return self._build_finetune()
        return modelzoo.build_model(self.task, self.architecture, self.params, self.input_shape,
                                    self.num_outputs), []

    def _build_finetune(self):
        ft = self.finetune
        base = modelzoo.ModelCard.from_json(json.dumps(ft["card"]))
        module = modelzoo.build_model(base.task, base.architecture, base.params, base.input_shape,
                                      base.num_outputs)
        modelzoo.load_state(module, ft["weights"])
        if ft.get("new_head"):
            modelzoo.replace_head(module, self.num_outputs)
        elif base.num_outputs != self.num_outputs:
            raise InvalidArgument(f"base model has {base.num_outputs} outputs, the data needs "
                                  f"{self.num_outputs}: set new_head")
        frozen = modelzoo.freeze(module, list(ft.get("freeze") or []))
        return module, frozen

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> FitResult:
        if len(x_train) == 0 or len(x_val) == 0:
            raise InvalidArgument("train and validation splits must not be empty")
        if list(x_train.shape[1:]) != self.input_shape and self.architecture not in ("tree", "svm"):
            raise InvalidArgument(f"train x has shape {list(x_train.shape[1:])}, expected {self.input_shape}")
        if self.architecture in modelzoo.SKLEARN_ARCHITECTURES:
            return self._fit_sklearn(x_train, y_train, x_val, y_val)
        return self._fit_torch(x_train, y_train, x_val, y_val)

    def _targets(self, y: np.ndarray):
        import torch

        if self.task == "classification":
            return torch.from_numpy(np.asarray(y).astype(np.int64).reshape(-1))
        y = np.asarray(y, dtype=np.float32)
        return torch.from_numpy(y.reshape(len(y), -1))

    def _fit_torch(self, x_train, y_train, x_val, y_val) -> FitResult:
        import torch
        import torch.nn.functional as F

        hp = self.hp
        torch.manual_seed(hp["seed"])
        module, frozen = self.build()
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
        xv = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
        yt, yv = self._targets(y_train), self._targets(y_val)
        scaler = None
        y_mean = y_std = torch.ones(1)
        if self.task in ("regression", "forecasting"):
            if yt.shape[1] != self.num_outputs:
                raise InvalidArgument(f"targets have width {yt.shape[1]}, model has {self.num_outputs} outputs")
            y_mean = yt.mean(dim=0)
            y_std = yt.std(dim=0, unbiased=False).clamp_min(1e-8)
            scaler = {"mean": y_mean.tolist(), "std": y_std.tolist()}
            yt, yv = (yt - y_mean) / y_std, (yv - y_mean) / y_std
        elif self.task == "classification":
            if int(yt.max()) >= self.num_outputs or int(yt.min()) < 0:
                raise InvalidArgument(f"class indices must be in [0, {self.num_outputs}), got "
                                      f"[{int(yt.min())}, {int(yt.max())}]")
        elif self.task == "detection":
            if yt.shape[1] not in (4, 5):
                raise InvalidArgument("detection targets must be N x 4 boxes (x1, y1, x2, y2) or N x 5 (+ class)")
        task = self.task
        module.to(device)
        xt, xv, yt, yv, y_std = xt.to(device), xv.to(device), yt.to(device), yv.to(device), y_std.to(device)

        def loss_fn(out, y):
            if task == "classification":
                return F.cross_entropy(out, y)
            if task == "detection":
                cls = y[:, 4].long() if y.shape[1] == 5 else torch.zeros(len(y), dtype=torch.long, device=y.device)
                return F.smooth_l1_loss(torch.sigmoid(out[:, :4]), y[:, :4], beta=0.05) * 10 + \
                    F.cross_entropy(out[:, 4:], cls)
            return F.mse_loss(out, y)

        trainable = [p for p in module.parameters() if p.requires_grad]
        if not trainable:
            raise InvalidArgument("every parameter is frozen; nothing to train")
        optimizer = make_optimizer(hp["optimizer"], trainable, hp)
        scheduler = make_scheduler(hp["lr_schedule"], optimizer, hp["epochs"])
        history: list[dict[str, Any]] = []
        best_val, best_epoch, bad_epochs = math.inf, 0, 0
        best_state = None
        start_epoch, resumed_from = 1, 0

        ckpt = self.rundir.load_checkpoint(["model.safetensors", "optimizer.safetensors", "best.safetensors",
                                            "state.json"]) if self.rundir else None
        if ckpt is not None:
            epoch_done, files = ckpt
            state = json.loads(files["state.json"])
            modelzoo.load_state(module, files["model.safetensors"])
            optimizer.load_state_dict(optimizer_state_from_files(files["optimizer.safetensors"],
                                                                 state["optimizer"]))
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            history = state["history"]
            best_val, best_epoch, bad_epochs = state["best_val"], state["best_epoch"], state["bad_epochs"]
            if "best.safetensors" in files:
                best_state = modelzoo.weights_from_bytes(files["best.safetensors"])
            start_epoch, resumed_from = epoch_done + 1, epoch_done
            for rec in history:  # metrics written before the crash may be missing: rewrite them
                self.rundir.write_epoch(rec)
            if state.get("stopped"):
                start_epoch = hp["epochs"] + 1

        n, bs = len(xt), hp["batch_size"]
        stopped_early = bool(ckpt and json.loads(ckpt[1]["state.json"]).get("stopped"))
        trained_samples, train_seconds = 0, 0.0
        for epoch in range(start_epoch, hp["epochs"] + 1):
            self._check_cancel(force=True)
            t0 = time.perf_counter()
            torch.manual_seed(hp["seed"] * 1_000_003 + epoch)  # dropout and shuffling replay on resume
            perm = torch.randperm(n).to(device)
            module.train()
            loss_sum = torch.zeros((), device=device)
            metric_sum = torch.zeros((), device=device)
            for i in range(0, n, bs):
                idx = perm[i: i + bs]
                xb, yb = xt[idx], yt[idx]
                optimizer.zero_grad(set_to_none=True)
                out = module(xb)
                loss = loss_fn(out, yb)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(idx)  # stays on the device: no sync per batch
                metric_sum += _batch_metric_sum(task, out.detach(), yb, y_std)
                self._check_cancel()
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            train_seconds += time.perf_counter() - t0
            trained_samples += n
            train_loss = float(loss_sum) / n
            train_metric = float(metric_sum) / n
            val_loss, val_metric = self._evaluate(module, xv, yv, loss_fn, y_std)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {train_loss}); "
                                         f"lower learning_rate (now {hp['learning_rate']})")
            rec = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "train_metric": train_metric,
                   "val_metric": val_metric, "metric_name": self.metric_name, "learning_rate": lr,
                   "seconds": time.perf_counter() - t0}
            history.append(rec)
            if val_loss < best_val - 1e-12:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            else:
                bad_epochs += 1
            patience = hp["early_stopping_patience"]
            stop = bool(patience and bad_epochs >= patience)
            if self.rundir is not None and (epoch % self.checkpoint_every == 0 or stop or epoch == hp["epochs"]):
                self._checkpoint(epoch, module, optimizer, scheduler, history, best_val, best_epoch, bad_epochs,
                                 best_state, stop)
            if self.rundir is not None:
                self.rundir.write_epoch(rec)
            if stop:
                stopped_early = True
                break
        if best_state is not None and (hp["early_stopping_patience"] or stopped_early):
            module.load_state_dict(best_state)
        elif not history:
            raise InvalidArgument("no epoch was trained")
        if not best_epoch:
            best_epoch = history[-1]["epoch"]
        if not hp["early_stopping_patience"]:
            best_epoch = history[-1]["epoch"]  # the final weights are the model
        module.eval().cpu()
        return FitResult(
            weights=modelzoo.weights_to_bytes(module), history=history, metric_name=self.metric_name,
            best_epoch=best_epoch, stopped_early=stopped_early, resumed_from=resumed_from,
            target_scaler=scaler, frozen=frozen,
            samples_per_second=trained_samples / train_seconds if train_seconds else 0.0)

    def _evaluate(self, module, x, y, loss_fn, y_std) -> tuple[float, float]:
        import torch

        module.eval()
        loss_sum, metric_sum = 0.0, 0.0
        with torch.inference_mode():
            for i in range(0, len(x), 256):
                out = module(x[i: i + 256])
                yb = y[i: i + 256]
                loss_sum += float(loss_fn(out, yb)) * len(yb)
                metric_sum += float(_batch_metric_sum(self.task, out, yb, y_std))
        return loss_sum / len(x), metric_sum / len(x)

    def _checkpoint(self, epoch, module, optimizer, scheduler, history, best_val, best_epoch, bad_epochs,
                    best_state, stopped) -> None:
        from safetensors.torch import save

        opt_bytes, opt_meta = optimizer_state_to_files(optimizer)
        files = {"model.safetensors": modelzoo.weights_to_bytes(module), "optimizer.safetensors": opt_bytes}
        if best_state is not None:
            files["best.safetensors"] = save({k: v.contiguous() for k, v in best_state.items()})
        state = {"epoch": epoch, "optimizer": opt_meta, "history": history,
                 "scheduler": scheduler.state_dict() if scheduler is not None else None,
                 "best_val": best_val if math.isfinite(best_val) else 1e308, "best_epoch": best_epoch,
                 "bad_epochs": bad_epochs, "stopped": stopped}
        files["state.json"] = json.dumps(state, default=_json_default).encode()
        self.rundir.save_checkpoint(epoch, files)

    # -- scikit-learn ---------------------------------------------------------------------------
    def _fit_sklearn(self, x_train, y_train, x_val, y_val) -> FitResult:
        from sklearn.metrics import log_loss, mean_squared_error

        self._check_cancel(force=True)
        t0 = time.perf_counter()
        if self.finetune:
            raise InvalidArgument(f"{self.architecture} models cannot be fine-tuned; train a new one")
        est = modelzoo.build_model(self.task, self.architecture, self.params, self.input_shape, self.num_outputs)
        if "random_state" in est.get_params() and self.params.get("random_state", 0) == 0:
            est.set_params(random_state=self.hp["seed"])
        xt = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
        xv = np.asarray(x_val, dtype=np.float64).reshape(len(x_val), -1)
        if self.task == "classification":
            yt, yv = np.asarray(y_train).astype(np.int64).reshape(-1), np.asarray(y_val).astype(np.int64).reshape(-1)
        else:
            yt, yv = np.asarray(y_train, dtype=np.float64), np.asarray(y_val, dtype=np.float64)
            if self.architecture == "svm" or yt.ndim == 2 and yt.shape[1] == 1:
                yt, yv = yt.reshape(-1), yv.reshape(-1)
        est.fit(xt, yt)
        card = modelzoo.ModelCard(task=self.task, architecture=self.architecture, params=self.params,
                                  input_shape=self.input_shape, num_outputs=self.num_outputs, framework="sklearn")
        loaded = modelzoo.LoadedModel(card, est)

        def scores(x, y) -> tuple[float, float]:
            pred = loaded.predict(x)
            if self.task == "classification":
                p = np.clip(pred, 1e-7, 1)
                return float(log_loss(y, p / p.sum(1, keepdims=True), labels=list(range(self.num_outputs)))), \
                    float((pred.argmax(1) == y).mean())
            yy = y.reshape(len(y), -1)
            return float(mean_squared_error(yy, pred)), float(np.abs(pred - yy).mean())

        train_loss, train_metric = scores(xt, yt)
        val_loss, val_metric = scores(xv, yv)
        rec = {"epoch": 1, "train_loss": train_loss, "val_loss": val_loss, "train_metric": train_metric,
               "val_metric": val_metric, "metric_name": self.metric_name, "learning_rate": 0.0,
               "seconds": time.perf_counter() - t0}
        if self.rundir is not None:
            self.rundir.write_epoch(rec)
        return FitResult(weights=modelzoo.weights_to_bytes(est), history=[rec], metric_name=self.metric_name,
                         best_epoch=1, stopped_early=False, resumed_from=0, target_scaler=None,
                         samples_per_second=len(xt) / max(rec["seconds"], 1e-9))


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, set | tuple):
        return list(v)
    raise TypeError(f"not JSON serializable: {type(v).__name__}")
