"""Everything fitted (scaling, fill values, clip bounds, categories, vocabulary) comes from the training
split only: changing the validation and test rows must not change the transform."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from services.common.features import OOV_ID, FittedTransform
from services.preprocessing import pipeline
from services.preprocessing.spec import Cleaning, FeatureSpec, Split


def raw_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "a": rng.normal(10, 3, n),
        "b": rng.uniform(-50, 50, n),
        "color": rng.choice(["red", "green", "blue"], n),
        "review": rng.choice(["a fine film indeed", "dull and long film", "loved every minute of it"], n),
        "label": np.where(np.arange(n) % 4 == 0, "pos", "neg"),
    })


def make_spec(scaling: str) -> FeatureSpec:
    return FeatureSpec(project="p", scaling=scaling, split=Split(0.6, 0.2, 0.2, seed=4, stratify=True),
                       cleaning=Cleaning(missing="mean", clip_outliers_iqr=3.0)).normalized()


def build(df: pd.DataFrame, spec: FeatureSpec) -> pipeline.Built:
    return pipeline.build(pa.Table.from_pandas(df, preserve_index=False), spec, "label")


def held_out_rows(b: pipeline.Built) -> np.ndarray:
    return np.concatenate([b.splits["validation"].index, b.splits["test"].index])


@pytest.mark.parametrize("scaling", ["standard", "minmax"])
def test_validation_and_test_rows_do_not_change_the_fit(scaling):
    df = raw_frame()
    spec = make_spec(scaling)
    first = build(df, spec)
    held = held_out_rows(first)
    changed = df.copy()
    changed.loc[held, "a"] = 1e6                         # wild values only outside train
    changed.loc[held, "b"] = np.nan
    changed.loc[held, "color"] = "purple"
    changed.loc[held, "review"] = "entirely unseen vocabulary here"
    second = build(changed, spec)
    assert second.transform.to_json() == first.transform.to_json()
    np.testing.assert_array_equal(second.splits["train"].x, first.splits["train"].x)

    t = second.transform
    v = second.splits["validation"].x
    color = next(s for s in t.layout if s.name == "color")
    assert (v[:, color.start:color.stop] == 0).all()     # unseen category: all zeros
    review = next(s for s in t.layout if s.name == "review")
    assert set(np.unique(v[:, review.start:review.stop])) <= {0, OOV_ID}
    assert "unseen" not in t.vocabulary


def test_standard_scaling_uses_train_statistics():
    df = raw_frame()
    b = build(df, make_spec("standard"))
    train_rows = b.splits["train"].index
    a = df.loc[train_rows, "a"].to_numpy()
    f = b.transform.numeric[0]
    assert f.scale == pytest.approx(1 / a.std(), rel=1e-6)
    assert f.offset == pytest.approx(-a.mean() / a.std(), rel=1e-6)
    x = b.splits["train"].x[:, :2]
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-5)
    everything = df["a"].to_numpy()
    assert f.offset != pytest.approx(-everything.mean() / everything.std(), rel=1e-4)


def test_minmax_maps_train_to_unit_interval():
    b = build(raw_frame(), make_spec("minmax"))
    x = b.splits["train"].x[:, :2]
    np.testing.assert_allclose(x.min(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(x.max(axis=0), 1, atol=1e-6)


def test_fill_values_come_from_train():
    df = raw_frame()
    df.loc[0, "a"] = np.nan
    b = build(df, make_spec("none"))
    train_rows = b.splits["train"].index
    expected = np.nanmean(df.loc[train_rows, "a"].to_numpy())
    assert b.transform.numeric[0].fill == pytest.approx(expected)


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_image_channels_are_standardized_on_train_only():
    rng = np.random.default_rng(0)
    n = 60
    pixels = rng.integers(0, 120, (n, 5, 5, 3), dtype=np.uint8)
    pixels[..., 1] += 100                                # a different level per channel
    table = pa.table({"image": pa.array([png(p) for p in pixels], pa.binary()), "label": [str(i % 2) for i in range(n)]})
    spec = FeatureSpec(project="p", scaling="standard", split=Split(0.5, 0.25, 0.25, seed=2)).normalized()
    first = pipeline.build(table, spec, "label")
    assert first.transform.input_shape == [3, 5, 5]
    x = first.splits["train"].x
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, atol=1e-4)
    held = held_out_rows(first)
    bright = pixels.copy()
    bright[held] = 255 - bright[held]
    table2 = table.set_column(0, "image", pa.array([png(p) for p in bright], pa.binary()))
    second = pipeline.build(table2, spec, "label")
    assert second.transform.to_json() == first.transform.to_json()


def test_fitted_transform_round_trips_through_json_and_reproduces_train():
    df = raw_frame()
    df.loc[[3, 9], "a"] = np.nan
    df.loc[4, "review"] = "caf\u00c3\u00a9 film"          # repaired the same way at apply
    b = build(df, make_spec("standard"))
    t = FittedTransform.from_json(b.transform.to_json())
    for split in b.splits.values():
        np.testing.assert_array_equal(t.apply(df.iloc[split.index]), split.x)
        np.testing.assert_array_equal(t.encode_labels(df["label"].iloc[split.index]), split.y)
