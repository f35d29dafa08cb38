"""Splits: stratified proportions, seed determinism, and the same through the whole pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from services.preprocessing import pipeline
from services.preprocessing.spec import FeatureSpec, Split
from services.preprocessing.split import split_indices, strata_for_regression

FRACTIONS = (0.6, 0.2, 0.2)


def imbalanced_labels() -> np.ndarray:
    return np.repeat([0, 1, 2], [500, 100, 20])


def test_splits_partition_all_rows():
    parts = split_indices(620, FRACTIONS, seed=1, strata=imbalanced_labels())
    joined = np.concatenate(list(parts.values()))
    assert len(joined) == 620 and len(np.unique(joined)) == 620


def test_stratified_split_keeps_each_class_share():
    y = imbalanced_labels()
    parts = split_indices(len(y), FRACTIONS, seed=1, strata=y)
    for cls, count in zip([0, 1, 2], [500, 100, 20], strict=True):
        got = [int((y[parts[s]] == cls).sum()) for s in ("train", "validation", "test")]
        expected = [count * f for f in FRACTIONS]
        assert np.allclose(got, expected, atol=1), (cls, got, expected)


def test_unstratified_split_only_keeps_the_total_share():
    parts = split_indices(1000, (0.7, 0.15, 0.15), seed=3)
    assert [len(parts[s]) for s in ("train", "validation", "test")] == [700, 150, 150]


def test_same_seed_same_split_other_seed_other_split():
    y = imbalanced_labels()
    a = split_indices(len(y), FRACTIONS, seed=7, strata=y)
    b = split_indices(len(y), FRACTIONS, seed=7, strata=y)
    c = split_indices(len(y), FRACTIONS, seed=8, strata=y)
    for s in a:
        np.testing.assert_array_equal(a[s], b[s])
    assert not np.array_equal(np.sort(a["test"]), np.sort(c["test"]))


def test_a_singleton_class_goes_to_train():
    y = np.array([0] * 10 + [1])
    parts = split_indices(11, FRACTIONS, seed=0, strata=y)
    assert 10 in parts["train"]


def test_regression_strata_are_quantile_bins():
    y = np.linspace(0, 1, 200)
    s = strata_for_regression(y)
    assert len(np.unique(s)) == 10
    parts = split_indices(200, FRACTIONS, seed=0, strata=s)
    assert y[parts["test"]].min() < 0.1 and y[parts["test"]].max() > 0.9   # the test split spans the range


def frame() -> pa.Table:
    rng = np.random.default_rng(0)
    n = 300
    return pa.Table.from_pandas(pd.DataFrame({
        "a": rng.normal(size=n), "b": rng.normal(size=n),
        "label": np.where(np.arange(n) < 240, "common", "rare"),
    }))


def test_pipeline_splits_are_stratified_and_deterministic():
    spec = FeatureSpec(project="p", scaling="standard", split=Split(0.6, 0.2, 0.2, seed=11, stratify=True))
    spec = spec.normalized()
    first = pipeline.build(frame(), spec, "label")
    second = pipeline.build(frame(), spec, "label")
    assert first.split_rows == {"train": 180, "validation": 60, "test": 60}
    for name in first.splits:
        np.testing.assert_array_equal(first.splits[name].x, second.splits[name].x)
        np.testing.assert_array_equal(first.splits[name].y, second.splits[name].y)
        rare = (first.splits[name].y == 1).mean()            # "rare" is class 1 (sorted names)
        assert abs(rare - 0.2) < 0.02, (name, rare)
    assert first.transform.to_json() == second.transform.to_json()


def test_stratified_totals_match_the_fractions_even_when_classes_do_not_divide():
    y = np.repeat(np.arange(10), 6)                      # 6 per class: 0.5 / 0.25 / 0.25 cannot split each evenly
    parts = split_indices(60, (0.5, 0.25, 0.25), seed=0, strata=y)
    assert [len(parts[s]) for s in ("train", "validation", "test")] == [30, 15, 15]
    for cls in range(10):
        assert (y[parts["train"]] == cls).sum() == 3
