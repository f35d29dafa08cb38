"""Tiny model versions for tests and benchmarks, made the way training and preprocessing make them:
a model-zoo module, its safetensors weights, a fitted transform and a model card, all stored in an
`ArtifactStore` (plus the train split NPZ that monitoring uses as its drift reference).

Two kinds: `image` (8x8 grayscale digits-like, CNN, 3 classes; raw input = PNG bytes or (H, W)
uint8 pixels) and `tabular` (two numeric columns + one categorical, MLP, classification or
regression).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np

from services.common.artifacts import Artifact, ArtifactStore
from services.common.features import (
    CategoricalFeature,
    FittedTransform,
    ImageFeature,
    NumericFeature,
    Segment,
)
from services.common.modelzoo import ModelCard, build_model, weights_to_bytes

CLASSES = ["zero", "one", "two"]


@dataclass
class MadeVersion:
    card: ModelCard
    card_ref: Artifact
    transform: FittedTransform
    train: Artifact            # NPZ: x (preprocessed, float32), y
    train_x: np.ndarray


def image_transform() -> FittedTransform:
    return FittedTransform(kind="image", task="classification", label_column="label", class_names=list(CLASSES),
                           input_shape=[1, 8, 8], scaling="standard",
                           image=ImageFeature(column="image", height=8, width=8, channels=1, scale=[2.0],
                                              offset=[-1.0]))


def tabular_transform(task: str = "classification") -> FittedTransform:
    return FittedTransform(
        kind="tabular", task=task, label_column="label", class_names=list(CLASSES) if task == "classification" else [],
        input_shape=[4], scaling="standard",
        numeric=[NumericFeature("a", fill=0.0, scale=0.5, offset=-1.0), NumericFeature("b", fill=1.0)],
        categorical=[CategoricalFeature("color", ["blue", "red"], fill="blue")],
        layout=[Segment("a", "numeric", 0, 1), Segment("b", "numeric", 1, 2), Segment("color", "one_hot", 2, 4)])


def raw_images(n: int, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    """(n, 8, 8) uint8 pixels; `shift` (0..1) brightens them to simulate drift."""
    rng = np.random.default_rng(seed)
    base = rng.beta(2, 5, size=(n, 8, 8)) + shift
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, "L").save(buf, format="PNG")
    return buf.getvalue()


def raw_rows(n: int, seed: int = 0, shift: float = 0.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(2 + shift, 1, n), rng.normal(0, 1, n)
    colors = rng.choice(["blue", "red"], n)
    return [{"a": float(x), "b": float(y), "color": str(c)} for x, y, c in zip(a, b, colors, strict=True)]


def make_version(artifacts: ArtifactStore, kind: str = "image", task: str = "classification",
                 project: str = "demo", version_id: str = "mv-test", seed: int = 0, train_rows: int = 400,
                 feature_set_id: str = "fs-test") -> MadeVersion:
    import torch

    torch.manual_seed(seed)
    if kind == "image":
        t = image_transform()
        train_x = t.apply(raw_images(train_rows, seed))
        module = build_model("classification", "cnn", {"channels": [4], "hidden": [16], "dropout": 0.0},
                             t.input_shape, len(CLASSES))
        arch, params, task = "cnn", {"channels": [4], "hidden": [16], "dropout": 0.0}, "classification"
    else:
        t = tabular_transform(task)
        train_x = t.apply(raw_rows(train_rows, seed))
        arch, params = "mlp", {"hidden": [8], "dropout": 0.0}
        module = build_model(task, arch, params, t.input_shape, len(CLASSES) if task == "classification" else 1)
    module.eval()
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), len(train_x)) if task == "classification" else rng.normal(size=len(train_x))
    buf = io.BytesIO()
    np.savez(buf, x=train_x.astype(np.float32), y=y.astype(np.int64 if task == "classification" else np.float32))
    train = artifacts.put_bytes(buf.getvalue(), "application/x-npz")
    weights = artifacts.put_bytes(weights_to_bytes(module), "application/vnd.safetensors")
    tref = artifacts.put_bytes(t.to_json().encode(), "application/json")
    card = ModelCard(
        model_version_id=version_id, project=project, task=task, architecture=arch, params=params,
        input_shape=list(t.input_shape), num_outputs=len(CLASSES) if task == "classification" else 1,
        class_names=list(t.class_names), framework="torch", feature_set_id=feature_set_id, run_id="run-test",
        weights_uri=weights.uri, weights_sha256=weights.sha256, transform_uri=tref.uri,
        transform_sha256=tref.sha256, created_at=dt.datetime.now(dt.UTC).isoformat())
    card_ref = artifacts.put_bytes(card.to_json().encode(), "application/json")
    return MadeVersion(card, card_ref, t, train, train_x)
