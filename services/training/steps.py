"""The bodies of the training pipeline's steps (pipelines/training.py keeps only thin wrappers).

Each step takes the run's job JSON (written by the service) plus local paths KFP gives it, and
works through the artifact store and the run dir only, so it runs the same in a local KFP
subprocess, in a cluster pod, or inline in the service.

Job JSON:
    {"run_id", "project", "task", "architecture", "params", "input_shape", "num_outputs",
     "hparams": {...}, "data": {"train"|"validation"|"test": {"uri", "sha256"}},
     "artifact_uri", "s3_endpoint_url", "run_dir", "storage_options",
     "finetune": null | {"model_version_id", "weights_uri", "weights_sha256", "card", "freeze", "new_head"}}
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from typing import Any

import numpy as np

from services.common import modelzoo
from services.common.artifacts import ArtifactStore
from services.common.errors import InvalidArgument
from services.training.rundir import RunDir
from services.training.trainer import Trainer, box_iou

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def parse_job(job: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(job) if isinstance(job, str) else job


def artifacts_of(job: dict[str, Any]) -> ArtifactStore:
    return ArtifactStore(job["artifact_uri"], job.get("s3_endpoint_url", ""))


def rundir_of(job: dict[str, Any]) -> RunDir:
    return RunDir(job["run_dir"], job.get("storage_options") or None)


def load_npz(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if "x" not in z.files or "y" not in z.files:
                raise InvalidArgument(f"feature split must hold arrays x and y, has {z.files}")
            return z["x"], z["y"]
    except (ValueError, OSError) as exc:
        raise InvalidArgument(f"feature split is not a readable NPZ without pickles: {exc}") from exc


def check_split(name: str, x: np.ndarray, y: np.ndarray, job: dict[str, Any]) -> None:
    shape = [int(d) for d in job["input_shape"]]
    if len(x) != len(y):
        raise InvalidArgument(f"{name}: x has {len(x)} rows but y has {len(y)}")
    if list(x.shape[1:]) != shape:
        raise InvalidArgument(f"{name}: x rows have shape {list(x.shape[1:])}, feature set says {shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise InvalidArgument(f"{name}: x must be float, got {x.dtype}")
    if job["task"] == "classification" and not np.issubdtype(y.dtype, np.integer):
        raise InvalidArgument(f"{name}: classification y must hold integer class indices, got {y.dtype}")
    if len(x) and not np.isfinite(x).all():
        raise InvalidArgument(f"{name}: x contains NaN or infinite values")


def load_features_step(job: str, train_path: str, validation_path: str, test_path: str) -> str:
    """Fetch the three splits (checksums verified), validate them, hand them to the next steps."""
    j = parse_job(job)
    store = artifacts_of(j)
    rows = {}
    for split, path in zip(SPLITS, (train_path, validation_path, test_path), strict=True):
        ref = j["data"][split]
        data = store.read_bytes(ref["uri"], ref.get("sha256", ""))
        x, y = load_npz(data)
        check_split(split, x, y, j)
        if split in ("train", "validation") and len(x) == 0:
            raise InvalidArgument(f"{split} split is empty")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        rows[split] = len(x)
    return json.dumps({"rows": rows})


def _read_split(path: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        return load_npz(f.read())


def make_trainer(j: dict[str, Any], rundir: RunDir | None, should_stop=None) -> Trainer:
    finetune = None
    if j.get("finetune"):
        ft = dict(j["finetune"])
        ft["weights"] = artifacts_of(j).read_bytes(ft["weights_uri"], ft.get("weights_sha256", ""))
        finetune = ft
    return Trainer(j["task"], j["architecture"], j["params"], j["input_shape"], j["num_outputs"], j["hparams"],
                   rundir=rundir, finetune=finetune, should_stop=should_stop)


def train_step(job: str, train_path: str, validation_path: str, model_path: str, should_stop=None) -> str:
    """Fit (resuming from the run dir's checkpoint), store the weights, write result.json."""
    j = parse_job(job)
    rundir = rundir_of(j)
    x_train, y_train = _read_split(train_path)
    x_val, y_val = _read_split(validation_path)
    import torch

    torch.set_num_threads(max(1, int(j.get("threads") or torch.get_num_threads())))
    t0 = time.perf_counter()
    fit = make_trainer(j, rundir, should_stop).fit(x_train, y_train, x_val, y_val)
    weights = artifacts_of(j).put_bytes(fit.weights, "application/vnd.safetensors")
    os.makedirs(os.path.dirname(model_path) or ".", exist_ok=True)
    with open(model_path, "wb") as f:
        f.write(fit.weights)
    result = {
        "run_id": j["run_id"], "weights": {"uri": weights.uri, "sha256": weights.sha256,
                                           "size_bytes": weights.size_bytes},
        "metrics": fit.summary(), "metric_name": fit.metric_name, "history": fit.history,
        "best_epoch": fit.best_epoch, "stopped_early": fit.stopped_early, "resumed_from": fit.resumed_from,
        "target_scaler": fit.target_scaler, "frozen": fit.frozen, "samples_per_second": fit.samples_per_second,
        "seconds": time.perf_counter() - t0,
    }
    rundir.write_json("result.json", result)
    return json.dumps(result)


def card_for(j: dict[str, Any], result: dict[str, Any]) -> modelzoo.ModelCard:
    """A card sufficient for loading (the service writes the full one)."""
    params = j["params"]
    arch = j["architecture"]
    if j.get("finetune"):
        base = j["finetune"]["card"]
        params, arch = base["params"], base["architecture"]
    return modelzoo.ModelCard(task=j["task"], architecture=arch, params=params, input_shape=j["input_shape"],
                              num_outputs=j["num_outputs"],
                              framework="sklearn" if arch in modelzoo.SKLEARN_ARCHITECTURES else "torch",
                              training={"target_scaler": result.get("target_scaler")})


def quick_metrics(task: str, pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The headline metric per task; the evaluation service computes the full set."""
    if len(y) == 0:
        return {}
    if task == "classification":
        return {"test_accuracy": float((pred.argmax(1) == y.reshape(-1)).mean())}
    if task == "detection":
        return {"test_iou": float(box_iou(pred[:, :4], y.reshape(len(y), -1)[:, :4].astype(np.float64)).mean())}
    err = pred - y.reshape(len(y), -1)
    return {"test_mae": float(np.abs(err).mean()), "test_rmse": float(np.sqrt((err ** 2).mean()))}


def evaluate_step(job: str, train_result: str, model_path: str, test_path: str) -> str:
    """Score the trained weights on the test split and add the numbers to result.json."""
    j = parse_job(job)
    result = json.loads(train_result)
    with open(model_path, "rb") as f:
        weights = f.read()
    x, y = _read_split(test_path)
    loaded = modelzoo.load_model(card_for(j, result), weights)
    result["test_metrics"] = quick_metrics(j["task"], loaded.predict(x), y) if len(x) else {}
    rundir_of(j).write_json("result.json", result)
    return json.dumps(result["test_metrics"])
