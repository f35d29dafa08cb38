"""Small sample feature sets in the preprocessing output contract, for demos, examples and tests.

Each builder returns splits {"train"|"validation"|"test": (x, y)} shaped like preprocessing's
output (x float32 N x input_shape, y int64 class index or float32 target); `publish` stores them
as NPZ artifacts and returns the `FeaturesReady` event that announces them.
"""

from __future__ import annotations

import io
import json
import uuid

import numpy as np

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import ArtifactStore
from services.common.bus import new_meta

Splits = dict[str, tuple[np.ndarray, np.ndarray]]
TASKS = {"classification": common_pb2.TASK_CLASSIFICATION, "regression": common_pb2.TASK_REGRESSION,
         "detection": common_pb2.TASK_DETECTION, "forecasting": common_pb2.TASK_FORECASTING}


def split(x: np.ndarray, y: np.ndarray, fractions=(0.7, 0.15, 0.15), seed: int = 0, shuffle: bool = True) -> Splits:
    idx = np.random.default_rng(seed).permutation(len(x)) if shuffle else np.arange(len(x))
    n_train = int(len(x) * fractions[0])
    n_val = int(len(x) * fractions[1])
    parts = idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:]
    return {name: (x[p], y[p]) for name, p in zip(("train", "validation", "test"), parts, strict=True)}


def digits(n: int | None = None, seed: int = 0) -> tuple[Splits, dict]:
    """sklearn digits as 1 x 8 x 8 images in [0, 1]; 10 classes."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y.astype(np.int64)
    if n is not None:
        x, y = x[:n], y[:n]
    return split(x, y, seed=seed), {"transform": "scale", "factor": 1 / 16.0}


def breast_cancer(seed: int = 0) -> tuple[Splits, dict]:
    """sklearn breast_cancer, standardized with train statistics; 2 classes."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    s = split(x.astype(np.float64), y.astype(np.int64), seed=seed)
    mean, std = s["train"][0].mean(axis=0), s["train"][0].std(axis=0) + 1e-12
    out = {k: (((xx - mean) / std).astype(np.float32), yy) for k, (xx, yy) in s.items()}
    return out, {"transform": "standardize", "mean": mean.tolist(), "std": std.tolist()}


def sine_series(n_points: int = 1600, window: int = 24, horizon: int = 1, noise: float = 0.1,
                seed: int = 0) -> tuple[Splits, dict]:
    """A sensor-like signal (two sines + noise) cut into windows; y = the next `horizon` values.

    Chronological split (no shuffling: the test windows come after the training ones).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_points, dtype=np.float64)
    signal = np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 13) + noise * rng.standard_normal(n_points)
    xs, ys = [], []
    for i in range(n_points - window - horizon + 1):
        xs.append(signal[i: i + window])
        ys.append(signal[i + window: i + window + horizon])
    x = np.asarray(xs, dtype=np.float32)[:, :, None]     # N x T x 1
    y = np.asarray(ys, dtype=np.float32)                  # N x horizon
    return split(x, y, seed=seed, shuffle=False), {"transform": "identity", "window": window, "horizon": horizon}


def boxes(n: int = 600, size: int = 16, seed: int = 0) -> tuple[Splits, dict]:
    """Synthetic single-object detection: a bright rectangle on noise; y = (x1, y1, x2, y2) in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((n, 1, size, size))).astype(np.float32)
    y = np.zeros((n, 4), dtype=np.float32)
    for i in range(n):
        w, h = rng.integers(4, size // 2 + 1, size=2)
        x0, y0 = rng.integers(0, size - w + 1), rng.integers(0, size - h + 1)
        x[i, 0, y0: y0 + h, x0: x0 + w] += 1.0
        y[i] = [x0 / size, y0 / size, (x0 + w) / size, (y0 + h) / size]
    return split(x, y, seed=seed), {"transform": "identity"}


def npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    return buf.getvalue()


def _ref(a) -> common_pb2.ArtifactRef:
    return common_pb2.ArtifactRef(uri=a.uri, sha256=a.sha256, size_bytes=a.size_bytes, media_type=a.media_type)


def publish(artifacts: ArtifactStore, project: str, task: str, splits: Splits, num_classes: int = 0,
            transform: dict | None = None, feature_set_id: str = "", dataset_version_id: str = "",
            correlation_id: str = "") -> ev.FeaturesReady:
    """Store the splits as NPZ artifacts; the FeaturesReady event announcing them."""
    refs = {k: artifacts.put_bytes(npz_bytes(*v), "application/x-npz") for k, v in splits.items()}
    tr = artifacts.put_bytes(json.dumps(transform or {"transform": "identity"}).encode(), "application/json")
    x_train = splits["train"][0]
    return ev.FeaturesReady(
        meta=new_meta("preprocessing", project, correlation_id),
        feature_set_id=feature_set_id or f"fs-{uuid.uuid4().hex[:12]}",
        dataset_version_id=dataset_version_id or f"dv-{uuid.uuid4().hex[:12]}",
        train=_ref(refs["train"]), validation=_ref(refs["validation"]), test=_ref(refs["test"]), transform=_ref(tr),
        split_rows={k: len(v[0]) for k, v in splits.items()}, task=TASKS[task],
        input_shape=[int(d) for d in x_train.shape[1:]], num_classes=num_classes)
