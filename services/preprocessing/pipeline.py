"""Building a feature set from a dataset version's table: clean, split, fit on train, apply, augment.

Pure: no database, no artifacts, no events (domain.py does those). Errors are domain errors with
messages that say what to change.

Order of the cleaning steps (each counted in the CleaningReport):
  rows without a label (missing_dropped) -> exact duplicates over the features and the label ->
  tabular: garbled text repaired (text_repaired, values) or its rows dropped (text_dropped) ->
           rows with a missing feature dropped when the strategy is `drop` (missing_dropped) ->
  images:  unreadable images, and blank ones when asked (images_dropped) ->
  near duplicates (numbers rounded, text case- and space-insensitive, pixels rounded).
Then the seeded split; then fill values, IQR clip bounds, scaling, categories and the vocabulary are
fitted on the training split only, and every split goes through `FittedTransform.apply`
(missing_imputed and outliers_clipped count the values it filled and clipped across all splits).
Augmentation adds copies of training rows only, after the originals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.features import FittedTransform, as_strings, decode_images, probe_images
from services.preprocessing import augment, cleaning
from services.preprocessing.cleaning import CleaningReport
from services.preprocessing.fit import fit_image, fit_tabular
from services.preprocessing.spec import FeatureSpec
from services.preprocessing.split import SPLITS, split_indices, strata_for_regression

log = logging.getLogger(__name__)

ID_LIKE = {"id", "uuid", "key", "index", "row_id", "__index_level_0__"}
MAX_INFERRED_CLASSES = 20   # a float label with at most this many whole-number values is a class label


@dataclass
class Columns:
    kind: str                 # tabular | image
    label: str
    numeric: list[str]
    categorical: list[str]
    text: list[str]
    image: str = ""

    @property
    def features(self) -> list[str]:
        return [self.image] if self.image else [*self.numeric, *self.categorical, *self.text]


@dataclass
class SplitData:
    x: np.ndarray             # float32 (N, *input_shape)
    y: np.ndarray             # int64 class indices or float32 targets
    index: np.ndarray         # int64 row of the dataset version each example came from


@dataclass
class Built:
    transform: FittedTransform
    splits: dict[str, SplitData]
    report: CleaningReport
    augmented_rows: int

    @property
    def split_rows(self) -> dict[str, int]:
        return {k: len(v.x) for k, v in self.splits.items()}


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)))


def _is_image(t: pa.DataType) -> bool:
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return True
    return pa.types.is_struct(t) and t.get_field_index("bytes") >= 0   # {bytes, path}, as Hugging Face writes


def _looks_like_text(col: pa.ChunkedArray) -> bool:
    arr = pc.drop_null(as_strings(col))
    if len(arr) == 0:
        return False
    words = pc.mean(pc.list_value_length(pc.utf8_split_whitespace(arr))).as_py() or 0
    distinct = pc.count_distinct(arr).as_py()
    return words >= 3 or (distinct > 50 and distinct > 0.5 * len(arr))


def resolve_columns(table: pa.Table, spec: FeatureSpec, label: str) -> Columns:
    names = table.column_names
    if label not in names:
        raise InvalidArgument(f"label column {label!r} is not in the dataset version (columns: {names}); "
                              "set label_column in the feature spec")
    wanted = [*spec.feature_columns, *([spec.image_column] if spec.image_column else [])]
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise InvalidArgument(f"feature spec for project {spec.project!r} names columns the dataset version does "
                              f"not have: {unknown} (columns: {names})")
    if label in wanted:
        raise InvalidArgument(f"label column {label!r} is also a feature column")
    schema = table.schema
    image = spec.image_column
    if not image and not spec.feature_columns and "image" in names and label != "image":
        image = "image"
    if image:
        if not _is_image(schema.field(image).type):
            raise InvalidArgument(f"image column {image!r} must hold encoded image bytes (PNG/JPEG), "
                                  f"it holds {schema.field(image).type}")
        return Columns("image", label, [], [], [], image)
    if spec.feature_columns:
        bad = [c for c in spec.numeric_columns if not (_is_numeric(schema.field(c).type)
                                                       or _is_string(schema.field(c).type))]
        if bad:
            raise InvalidArgument(f"numeric columns {bad} hold neither numbers nor text")
        return Columns("tabular", label, list(spec.numeric_columns), list(spec.categorical_columns),
                       list(spec.text_columns))
    numeric, categorical, text = [], [], []
    for f in schema:
        if f.name == label or f.name.lower() in ID_LIKE or f.name.lower().endswith("_id"):
            continue
        if _is_numeric(f.type):
            numeric.append(f.name)
        elif _is_string(f.type):
            (text if _looks_like_text(table.column(f.name)) else categorical).append(f.name)
    if not (numeric or categorical or text):
        raise InvalidArgument(f"no feature columns found besides the label {label!r} (columns: {names}); "
                              "list them in the feature spec")
    return Columns("tabular", label, numeric, categorical, text)


def resolve_task(spec_task: str, label: pa.ChunkedArray) -> str:
    t = label.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if spec_task == "regression":
        if not numeric:
            raise InvalidArgument(f"regression needs a numeric label column; it holds {t}")
        return spec_task
    if spec_task:
        return spec_task
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        v = pc.drop_null(label).to_numpy().astype(np.float64)
        v = v[np.isfinite(v)]
        whole = bool(np.all(v == np.round(v)))
        if not (whole and len(np.unique(v)) <= MAX_INFERRED_CLASSES):
            return "regression"
    return "classification"


class _Rows:
    """The rows still in play (positions in the dataset version) and the counts of those removed."""

    def __init__(self, n: int, report: CleaningReport) -> None:
        self.index = np.arange(n)
        self.report = report

    def drop(self, mask: np.ndarray, counter: str) -> np.ndarray:
        """Remove rows where mask is True; returns the keep mask to filter parallel arrays with."""
        keep = ~np.asarray(mask, bool)
        setattr(self.report, counter, getattr(self.report, counter) + int((~keep).sum()))
        self.index = self.index[keep]
        return keep


def build(table: pa.Table, spec: FeatureSpec, label_column: str, threads: int = 1) -> Built:
    cols = resolve_columns(table, spec, label_column)
    task = resolve_task(spec.task, table.column(label_column))
    report = CleaningReport(input_rows=table.num_rows)
    rows = _Rows(table.num_rows, report)

    if task == "classification":
        labels = as_strings(table.column(label_column))
        no_label = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(labels), ""), True).to_numpy(zero_copy_only=False)
    else:
        labels = pd.to_numeric(table.column(label_column).to_pandas(), errors="coerce").to_numpy(np.float64)
        no_label = ~np.isfinite(labels)
    keep = rows.drop(no_label, "missing_dropped")
    labels = _take(labels, keep)

    if cols.kind == "image":
        return _build_images(table, cols, spec, task, labels, rows, threads)
    return _build_tabular(table, cols, spec, task, labels, rows)


def _take(values, mask_or_index: np.ndarray):
    if isinstance(values, pa.Array):
        if mask_or_index.dtype == bool:
            return values.filter(pa.array(mask_or_index))
        return values.take(pa.array(mask_or_index, pa.int64()))
    return values[mask_or_index]


def _build_images(table: pa.Table, cols: Columns, spec: FeatureSpec, task: str, labels, rows: _Rows,
                  threads: int) -> Built:
    clean = spec.cleaning
    col = table.column(cols.image).combine_chunks()
    if pa.types.is_struct(col.type):
        col = pc.struct_field(col, "bytes")
    images = _take(col, rows.index)
    if clean.drop_exact_duplicates and len(images):
        keep = rows.drop(cleaning.duplicate_mask([images, labels]), "exact_duplicates")
        images, labels = _take(images, keep), _take(labels, keep)

    sizes, gray = probe_images(images)
    readable = sizes[:, 0] > 0
    if not readable.any():
        raise FailedPrecondition(f"none of the {len(images)} images in column {cols.image!r} could be read")
    if spec.image_height:
        h, w = spec.image_height, spec.image_width
    else:
        uniq, counts = np.unique(sizes[readable], axis=0, return_counts=True)
        h, w = (int(v) for v in uniq[np.argmax(counts)])        # the most common size
    channels = 1 if gray[readable].all() else 3
    pixels, ok = decode_images(images.to_numpy(zero_copy_only=False), h, w, channels, threads)
    bad = ~ok
    if clean.drop_blank_images:
        bad |= cleaning.blank_mask(pixels)
    keep = rows.drop(bad, "images_dropped")
    pixels, labels = pixels[keep], _take(labels, keep)

    if clean.drop_near_duplicates and len(pixels):
        key = cleaning.near_key_pixels(pixels, int(clean.near_duplicate_decimals))
        keep = rows.drop(cleaning.duplicate_mask([key, labels]), "near_duplicates")
        pixels, labels = pixels[keep], _take(labels, keep)

    def fit(train_pos: np.ndarray, class_names: list[str]) -> FittedTransform:
        return fit_image(pixels[train_pos], cols.image, spec, task, cols.label, class_names)

    return _finish(spec, task, labels, rows, fit, lambda pos: pixels[pos], None)


def _build_tabular(table: pa.Table, cols: Columns, spec: FeatureSpec, task: str, labels, rows: _Rows) -> Built:
    clean, report = spec.cleaning, rows.report
    df = table.select(cols.features).to_pandas().iloc[rows.index].reset_index(drop=True)
    if clean.drop_exact_duplicates and len(df):
        keep = rows.drop(cleaning.duplicate_mask([df[c] for c in cols.features] + [labels]), "exact_duplicates")
        df, labels = df[keep].reset_index(drop=True), _take(labels, keep)

    strings = [*cols.categorical, *cols.text]
    if strings:
        repaired, garbled, changed = cleaning.repair_columns(df, strings)
        if clean.text == "drop":
            keep = rows.drop(garbled, "text_dropped")
            df, labels = df[keep].reset_index(drop=True), _take(labels, keep)
        else:
            df, report.text_repaired = repaired, changed

    if clean.missing == "drop":
        keep = rows.drop(cleaning.missing_mask(df, cols.features), "missing_dropped")
        df, labels = df[keep].reset_index(drop=True), _take(labels, keep)

    if clean.drop_near_duplicates and len(df):
        d = int(clean.near_duplicate_decimals)
        keys = [cleaning.near_key_numeric(df[c], d) for c in cols.numeric]
        keys += [cleaning.near_key_text(df[c]) for c in strings]
        keep = rows.drop(cleaning.duplicate_mask([*keys, labels]), "near_duplicates")
        df, labels = df[keep].reset_index(drop=True), _take(labels, keep)

    def fit(train_pos: np.ndarray, class_names: list[str]) -> FittedTransform:
        return fit_tabular(df.iloc[train_pos], spec, cols.numeric, cols.categorical, cols.text, task, cols.label,
                           class_names)

    def augment_text(t: FittedTransform, train_pos: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cfg = spec.augmentation.text
        src = np.tile(np.arange(len(train_pos)), cfg.copies or 1)   # positions within the training split
        copies = df.iloc[train_pos[src]].reset_index(drop=True)
        for c in t.text:
            copies[c] = augment.augment_text(copies[c], cfg, rng, t.vocabulary).to_pandas()
        return t.apply(copies), src

    return _finish(spec, task, labels, rows, fit, lambda pos: df.iloc[pos], augment_text if cols.text else None)


def _finish(spec: FeatureSpec, task: str, labels, rows: _Rows, fit, raw_of, augment_text) -> Built:
    report = rows.report
    n = len(rows.index)
    report.output_rows = n
    if n == 0:
        raise FailedPrecondition(f"no rows left after cleaning: {report.to_dict()}")
    class_names: list[str] = []
    strata = None
    if task == "classification":
        class_names = sorted(pc.unique(labels).to_pylist())
        if len(class_names) < 2:
            raise FailedPrecondition(f"classification needs at least 2 classes; the cleaned data has {class_names}")
        if spec.split.stratify:
            strata = pc.index_in(labels, value_set=pa.array(class_names, pa.string())).to_numpy()
    elif spec.split.stratify:
        strata = strata_for_regression(labels)

    sp = spec.split
    parts = split_indices(n, (sp.train, sp.validation, sp.test), sp.seed, strata)
    transform = fit(parts["train"], class_names)          # fitted on the training split only
    stats: dict[str, int] = {}
    splits = {}
    for name in SPLITS:
        pos = parts[name]
        splits[name] = SplitData(transform.apply(raw_of(pos), stats=stats),
                                 transform.encode_labels(_take(labels, pos)), rows.index[pos].astype(np.int64))
    report.missing_imputed = stats.get("missing_imputed", 0)
    report.outliers_clipped = stats.get("outliers_clipped", 0)

    augmented = 0
    aug = spec.augmentation
    if aug.enabled:
        rng = np.random.default_rng(aug.seed)
        train = splits["train"]
        extra = None
        if transform.kind == "image" and aug.image.active:
            extra = augment.augment_images(train.x, aug.image, rng, aug.image.copies or 1)
        elif augment_text is not None and aug.text.active:
            extra = augment_text(transform, parts["train"], rng)
        if extra is not None:
            x, src = extra
            splits["train"] = SplitData(np.concatenate([train.x, x]), np.concatenate([train.y, train.y[src]]),
                                        np.concatenate([train.index, train.index[src]]))
            augmented = len(x)
    log.info("feature set built", extra={"report": report.to_dict(), "augmented_rows": augmented,
                                         "split_rows": {k: len(v.x) for k, v in splits.items()}})
    return Built(transform, splits, report, augmented)

