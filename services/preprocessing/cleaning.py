"""Row-level cleaning: duplicates, garbled text, missing values, unreadable or blank images.

Every function works on whole columns (hash tables, Arrow kernels, numpy reductions); none loops
over rows in Python. Each returns a mask (True = the row goes) so the pipeline can count what went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from services.common.features import as_strings, repair_text


@dataclass
class CleaningReport:
    """Mirrors gristmill.preprocessing.v1.CleaningReport. Row counts, except `text_repaired`,
    `missing_imputed` and `outliers_clipped`, which count values (cells)."""

    input_rows: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    missing_dropped: int = 0
    missing_imputed: int = 0
    outliers_clipped: int = 0
    text_repaired: int = 0
    text_dropped: int = 0
    images_dropped: int = 0
    output_rows: int = 0

    def to_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def codes_of(values: Sequence | pd.Series | np.ndarray) -> np.ndarray:
    """Dense integer codes with equal values sharing a code (missing values share -1)."""
    if isinstance(values, np.ndarray) and values.ndim == 2:  # rows of a fixed-width array (pixels)
        row = np.ascontiguousarray(values).view(np.dtype((np.void, values.dtype.itemsize * values.shape[1])))
        return np.unique(row.ravel(), return_inverse=True)[1].astype(np.int64)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
            values = values.to_numpy(zero_copy_only=False)
        else:  # strings, bytes: Arrow's hash table, no Python objects
            return pc.fill_null(pc.dictionary_encode(values).indices, -1).to_numpy().astype(np.int64)
    codes, _ = pd.factorize(pd.Series(values) if not isinstance(values, pd.Series) else values,
                            use_na_sentinel=True)
    return codes.astype(np.int64, copy=False)


def duplicate_mask(columns: Sequence) -> np.ndarray:
    """True for each row equal, in every column, to an earlier row."""
    if not columns:
        raise ValueError("duplicate_mask needs at least one column")
    frame = pd.DataFrame({i: codes_of(c) for i, c in enumerate(columns)})
    return frame.duplicated(keep="first").to_numpy()


def near_key_numeric(values: pd.Series, decimals: int) -> np.ndarray:
    return np.round(pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan), decimals)


def near_key_text(values) -> pa.Array:
    """Case, surrounding and repeated whitespace ignored."""
    arr = pc.utf8_lower(as_strings(values))
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))


def near_key_pixels(pixels: np.ndarray, decimals: int) -> np.ndarray:
    """uint8 (N, ...) pixels rounded, on the 0..1 scale, to `decimals` decimals; one row per image."""
    flat = pixels.reshape(len(pixels), -1)
    steps = 10.0 ** decimals
    if steps >= 255:
        return flat
    return np.rint(flat * np.float32(steps / 255)).astype(np.uint8)


def repair_columns(df: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Repair garbled text in `columns` (with the same function serving uses). Returns the frame with
    repaired values, the rows that had garbled text, and how many values changed."""
    garbled = np.zeros(len(df), bool)
    changed_values = 0
    repaired = {}
    for c in columns:
        arr, changed = repair_text(df[c])
        if changed.any():
            repaired[c] = arr.to_pandas()
            repaired[c].index = df.index
            garbled |= changed
            changed_values += int(changed.sum())
    if repaired:
        df = df.assign(**repaired)
    return df, garbled, changed_values


def missing_mask(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Rows with a missing value (null, NaN, +-inf) in any of `columns`."""
    if not columns:
        return np.zeros(len(df), bool)
    sub = df[list(columns)]
    miss = sub.isna().to_numpy().any(axis=1)
    num = sub.select_dtypes(include="number")
    if num.shape[1]:
        miss |= np.isinf(num.to_numpy(np.float64, na_value=np.nan)).any(axis=1)
    return miss


def blank_mask(pixels: np.ndarray) -> np.ndarray:
    """Images whose pixels all hold one value (all black, all white, one flat colour)."""
    flat = pixels.reshape(len(pixels), -1)
    if flat.shape[1] == 0:
        return np.ones(len(pixels), bool)
    return flat.min(axis=1) == flat.max(axis=1)
