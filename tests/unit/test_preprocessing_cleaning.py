"""Cleaning: every count in the CleaningReport, on frames built with known defects."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from services.common.errors import FailedPrecondition
from services.preprocessing import pipeline
from services.preprocessing.spec import Cleaning, FeatureSpec


def spec(**cleaning) -> FeatureSpec:
    return FeatureSpec(project="p", cleaning=Cleaning(**cleaning)).normalized()


def base_frame(n: int = 40) -> pd.DataFrame:
    """Distinct, clean rows: nothing in here is a duplicate, missing, garbled or an outlier."""
    i = np.arange(n)
    return pd.DataFrame({
        "x": i * 1.5,
        "color": np.where(i % 2 == 0, "red", "blue"),
        "note": [f"row number {k} says hello" for k in i],
        "label": np.where(i % 3 == 0, "a", "b"),
    })


def build(df: pd.DataFrame, s: FeatureSpec):
    return pipeline.build(pa.Table.from_pandas(df, preserve_index=False), s, "label")


def test_exact_near_missing_and_garbled_rows_are_counted():
    df = base_frame()
    extra = pd.DataFrame({
        "x": [0.0, 0.0, 3.0,                  # 3 exact duplicates of rows 0, 0 and 2
              1.5 + 1e-6, 4.5,                 # near duplicates: row 1 with a tiny difference; row 3 in capitals
              np.nan, 7.0,                     # missing x; missing color (below)
              8.25],                           # garbled note (below)
        "color": ["red", "red", "red", "blue", "BLUE", "red", None, "red"],
        "note": ["row number 0 says hello", "row number 0 says hello", "row number 2 says hello",
                 "row number 1 says hello", "ROW number 3  says hello", "fine", "fine too",
                 "caf\u00c3\u00a9 au lait"],
        "label": ["a", "a", "b", "b", "a", "b", "a", "b"],
    })
    df = pd.concat([df, extra], ignore_index=True)
    df.loc[len(df)] = [9.75, "blue", None, None]    # no label
    b = build(df, spec(drop_exact_duplicates=True, drop_near_duplicates=True, near_duplicate_decimals=3))
    r = b.report
    assert r.input_rows == 49
    assert r.missing_dropped == 1 + 2                # the unlabeled row, then the two rows with a missing feature
    assert r.exact_duplicates == 3
    assert r.text_repaired == 1                     # one value changed
    assert r.near_duplicates == 2
    assert r.output_rows == 49 - 3 - 3 - 2 == sum(b.split_rows.values())


def test_garbled_text_can_drop_its_rows_instead():
    df = base_frame()
    df.loc[3, "note"] = "bad \x00 byte"
    df.loc[5, "note"] = "it\u00e2\u20ac\u2122s"
    df.loc[7, "color"] = "re\ufffdd"
    r = build(df, spec(text="drop")).report
    assert (r.text_dropped, r.text_repaired, r.output_rows) == (3, 0, 37)
    r = build(df, spec(text="repair")).report
    assert (r.text_dropped, r.text_repaired, r.output_rows) == (0, 3, 40)


def test_imputation_counts_cells_and_clipping_counts_values_outside_the_train_iqr():
    df = base_frame(100)
    df["x"] = np.tile(np.arange(10.0), 10)      # IQR on any split ~ [2, 7]; k = 1.5 -> bounds ~ [-5.5, 14.5]
    df.loc[[4, 50], "x"] = [1000.0, -1000.0]
    df.loc[[10, 11, 12], "x"] = np.nan
    df.loc[13, "color"] = None
    b = build(df, spec(missing="median", clip_outliers_iqr=1.5))
    r = b.report
    assert r.missing_dropped == 0 and r.output_rows == 100
    assert r.missing_imputed == 4
    assert r.outliers_clipped == 2
    t = b.transform
    assert t.numeric[0].low == pytest.approx(-5.5, abs=1.5) and t.numeric[0].high == pytest.approx(14.5, abs=1.5)
    allx = np.concatenate([s.x[:, 0] for s in b.splits.values()])
    assert allx.max() <= t.numeric[0].high and allx.min() >= t.numeric[0].low


def test_missing_strategy_drop_removes_rows_and_imputes_nothing():
    df = base_frame()
    df.loc[[1, 2], "x"] = np.nan
    df.loc[3, "x"] = np.inf
    r = build(df, spec(missing="drop")).report
    assert (r.missing_dropped, r.missing_imputed, r.output_rows) == (3, 0, 37)


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def images_table(n: int = 30) -> tuple[list, list]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    pixels[:, 0, 0] = 0
    items = [png(a) for a in pixels]
    labels = [str(i % 3) for i in range(n)]
    return items, labels


def test_unreadable_blank_and_duplicate_images_are_counted():
    items, labels = images_table()
    items += [b"not a png", b"", None,                              # 3 unreadable (always dropped)
              png(np.zeros((6, 6), np.uint8)), png(np.full((6, 6), 255, np.uint8)),   # 2 blank
              items[0], items[1]]                                    # 2 exact duplicates (same label)
    labels += ["0", "1", "2", "0", "1", labels[0], labels[1]]
    near = np.asarray(Image.open(io.BytesIO(items[2]))).copy()
    near[0, 0] = 1                                                   # one pixel off by one level of 255
    items.append(png(near))
    labels.append(labels[2])
    t = pa.table({"image": pa.array(items, pa.binary()), "label": labels})
    s = spec(drop_exact_duplicates=True, drop_blank_images=True, drop_near_duplicates=True)
    r = pipeline.build(t, s, "label").report
    assert (r.input_rows, r.exact_duplicates, r.images_dropped, r.near_duplicates, r.output_rows) == (38, 2, 5, 1, 30)
    # blank images stay when not asked to drop them; unreadable ones never do
    r = pipeline.build(t, spec(), "label").report
    assert (r.images_dropped, r.output_rows) == (3, 35)


def test_nothing_left_after_cleaning_is_a_failed_precondition():
    t = pa.table({"image": pa.array([b"x", b"y"], pa.binary()), "label": ["a", "b"]})
    with pytest.raises(FailedPrecondition, match="could be read"):
        pipeline.build(t, spec(), "label")
    df = base_frame()
    df["x"] = np.nan
    with pytest.raises(FailedPrecondition, match="no rows left"):
        build(df, spec(missing="drop"))
