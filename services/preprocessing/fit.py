"""Fitting a FittedTransform on the training split only.

Statistics that need what the model will see (scaling after fill and clip) are computed on the
output of `FittedTransform.apply` itself, so fitting never re-implements a step of the transform.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from services.common.features import (
    CategoricalFeature,
    FittedTransform,
    ImageFeature,
    NumericFeature,
    Segment,
    repair_text,
    tokenize,
)
from services.preprocessing.spec import FeatureSpec


def _scale_offset(values: np.ndarray, scaling: str, axis) -> tuple[np.ndarray, np.ndarray]:
    """x * scale + offset: to [0, 1] (minmax) or mean 0 / std 1 (standard); constant columns map to 0."""
    if scaling == "minmax":
        lo = values.min(axis=axis).astype(np.float64)
        span = values.max(axis=axis).astype(np.float64) - lo
        scale = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 1.0)
        return scale, -lo * scale
    if scaling == "standard":
        mean = values.mean(axis=axis, dtype=np.float64)
        std = values.std(axis=axis, dtype=np.float64)
        scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 1.0)
        return scale, -mean * scale
    raise ValueError(f"unknown scaling {scaling!r}")


def _mode_number(v: np.ndarray) -> float:
    vals, counts = np.unique(v, return_counts=True)
    return float(vals[np.argmax(counts)])  # ties: the smallest value


def _mode_string(arr: pa.Array) -> str:
    vc = pc.value_counts(pc.drop_null(arr))
    if len(vc) == 0:
        return ""
    values = vc.field("values").to_numpy(zero_copy_only=False)
    counts = vc.field("counts").to_numpy()
    order = np.lexsort((values.astype(str), -counts))   # most frequent, ties by value
    return str(values[order[0]])


def _fill_value(v: np.ndarray, strategy: str, constant: float) -> float:
    if strategy == "constant":
        return float(constant)
    if v.size == 0:
        return 0.0
    if strategy == "mean":
        return float(v.mean())
    if strategy == "mode":
        return _mode_number(v)
    return float(np.median(v))  # median, and drop (serving never drops a row: it fills the median)


def vocabulary(texts: list[pa.Array], max_vocabulary: int) -> list[str]:
    """The most frequent training tokens (ties by token), at most `max_vocabulary`."""
    tokens = [tokenize(t)[1] for t in texts]
    flat = pa.concat_arrays([t.cast(pa.string()) for t in tokens]) if tokens else pa.array([], pa.string())
    if len(flat) == 0:
        return []
    vc = pc.value_counts(flat)
    words = vc.field("values").to_numpy(zero_copy_only=False).astype(str)
    counts = vc.field("counts").to_numpy()
    order = np.lexsort((words, -counts))[:max_vocabulary]
    return words[order].tolist()


def fit_tabular(train: pd.DataFrame, spec: FeatureSpec, numeric: list[str], categorical: list[str],
                text: list[str], task: str, label_column: str, class_names: list[str]) -> FittedTransform:
    clean = spec.cleaning
    num_feats = []
    for c in numeric:
        v = pd.to_numeric(train[c], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        v = v[np.isfinite(v)]
        low = high = None
        if clean.clip_outliers_iqr > 0 and v.size:
            q1, q3 = np.quantile(v, [0.25, 0.75])
            k = clean.clip_outliers_iqr * (q3 - q1)
            low, high = float(q1 - k), float(q3 + k)
        num_feats.append(NumericFeature(c, _fill_value(v, clean.missing, clean.missing_constant), low, high))

    cat_feats = []
    for c in categorical:
        arr, _ = repair_text(train[c])
        cats = sorted(pc.unique(pc.drop_null(arr)).to_pylist())
        cat_feats.append(CategoricalFeature(c, cats, _mode_string(arr)))

    vocab = vocabulary([repair_text(train[c])[0] for c in text], spec.max_vocabulary) if text else []

    layout, pos = [], 0
    for f in num_feats:
        layout.append(Segment(f.name, "numeric", pos, pos + 1))
        pos += 1
    for f in cat_feats:
        width = 1 if spec.encoding == "ordinal" else len(f.categories)
        layout.append(Segment(f.name, spec.encoding, pos, pos + width))
        pos += width
    for c in text:
        layout.append(Segment(c, "tokens", pos, pos + spec.max_tokens))
        pos += spec.max_tokens

    t = FittedTransform(kind="tabular", task=task, label_column=label_column, class_names=class_names,
                        input_shape=[pos], scaling=spec.scaling, encoding=spec.encoding, numeric=num_feats,
                        categorical=cat_feats, text=list(text), vocabulary=vocab, max_tokens=spec.max_tokens,
                        layout=layout)
    if num_feats and spec.scaling != "none" and len(train):
        k = len(num_feats)
        numeric_only = dataclasses.replace(t, categorical=[], text=[], layout=layout[:k], input_shape=[k])
        seen = numeric_only.apply(train)             # filled and clipped, exactly as the model sees it
        scale, offset = _scale_offset(seen, spec.scaling, axis=0)
        t.numeric = [dataclasses.replace(f, scale=float(s), offset=float(o))
                     for f, s, o in zip(num_feats, scale, offset, strict=True)]
    return t


def fit_image(train_pixels: np.ndarray, column: str, spec: FeatureSpec, task: str, label_column: str,
              class_names: list[str]) -> FittedTransform:
    _, h, w, c = train_pixels.shape
    t = FittedTransform(kind="image", task=task, label_column=label_column, class_names=class_names,
                        input_shape=[c, h, w], scaling=spec.scaling,
                        image=ImageFeature(column, h, w, c, [1.0] * c, [0.0] * c))
    if spec.scaling != "none" and len(train_pixels):
        seen = t.apply(train_pixels)                  # pixels on [0, 1], channels first
        scale, offset = _scale_offset(seen, spec.scaling, axis=(0, 2, 3))
        t.image = dataclasses.replace(t.image, scale=[float(s) for s in scale], offset=[float(o) for o in offset])
    return t
