"""Data drift with Evidently 0.7 (new API) and the reduction of model inputs to drift columns.

Columns
-------
Drift is measured on the model input after preprocessing (what `InferenceLogged.features` holds and
what the feature set's train split holds), so the reference and the current window are comparable.
Inputs with at most `max_columns` values are used as they are, one column per value (named after
the fitted transform's layout when known: `age`, `color=red`, `text[3]`, else `x0`, `x1`, ...).
Wider inputs (an 8x8 image has 64 pixels) are reduced: the top `k` principal components, fitted on
the reference sample (`pc1`..`pck`), plus each row's mean and standard deviation (`row_mean`,
`row_std`, which catch brightness and contrast shifts that PCA may spread thin). A report names its
reduction (`none` or `pca:<k>+row_stats`).

Tests
-----
`Report([DataDriftPreset(drift_share=...)], include_tests=True)`: each column's `ValueDrift` test
decides `drifted` (test status FAIL). Evidently picks the test by the *reference* size: up to 1000
rows K-S (numeric) with p-value threshold 0.05, drifted when score < threshold; more rows,
Wasserstein distance (normed) with threshold 0.1, drifted when score >= threshold. Monitoring
keeps a reference sample of `reference_rows` (default 1000), so p-value tests are the default;
`drift_when` in each column result says which way the comparison goes. Dataset drift: the share of
drifted columns >= the drift share threshold (computed here, as Evidently reports only the share).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROW_STATS = ("row_mean", "row_std")


@dataclass
class Reduction:
    """Flattened model input (N, D) -> drift columns (N, C)."""

    kind: str                           # none | pca
    columns: list[str]
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    components: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (k, D)

    @property
    def name(self) -> str:
        return "none" if self.kind == "none" else f"pca:{len(self.components)}+row_stats"

    @classmethod
    def fit(cls, reference: np.ndarray, max_columns: int = 32, components: int = 16,
            names: list[str] | None = None) -> Reduction:
        x = np.asarray(reference, np.float64).reshape(len(reference), -1)
        d = x.shape[1]
        if d <= max_columns:
            cols = names if names and len(names) == d else [f"x{i}" for i in range(d)]
            return cls("none", _unique(cols))
        mean = x.mean(axis=0)
        k = max(1, min(components, d, len(x) - 1))
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        comps = vt[:k]
        # fix the sign so the same data always gives the same columns
        signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
        comps = comps * np.where(signs == 0, 1, signs)[:, None]
        return cls("pca", [f"pc{i + 1}" for i in range(k)] + list(ROW_STATS), mean.astype(np.float32),
                   comps.astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, np.float32).reshape(len(features), -1)
        if self.kind == "none":
            return x
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features have {x.shape[1]} values per row; the reference has {self.mean.shape[0]}")
        pcs = (x - self.mean) @ self.components.T
        return np.concatenate([pcs, x.mean(axis=1, keepdims=True), x.std(axis=1, keepdims=True)], axis=1)

    def frame(self, features: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(self.apply(features).astype(np.float64), columns=self.columns)

    # persisted next to the reference sample
    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"reduction_kind": np.array(self.kind), "columns": np.array(self.columns),
                "mean": self.mean, "components": self.components}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> Reduction:
        return cls(str(a["reduction_kind"]), [str(c) for c in a["columns"]], a["mean"], a["components"])


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def layout_names(transform) -> list[str] | None:
    """Column names from a FittedTransform's layout (tabular), else None."""
    if transform is None or getattr(transform, "kind", "") != "tabular" or not transform.layout:
        return None
    cats = {c.name: c.categories for c in transform.categorical}
    names: list[str] = []
    for seg in transform.layout:
        width = seg.stop - seg.start
        if seg.kind == "one_hot" and seg.name in cats and len(cats[seg.name]) == width:
            names += [f"{seg.name}={c}" for c in cats[seg.name]]
        elif width == 1:
            names.append(seg.name)
        else:
            names += [f"{seg.name}[{i}]" for i in range(width)]
    return names


def save_reference(sample: np.ndarray, reduction: Reduction) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, sample=np.asarray(sample, np.float32), **reduction.to_arrays())
    return buf.getvalue()


def load_reference(data: bytes) -> tuple[np.ndarray, Reduction]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays["sample"], Reduction.from_arrays(arrays)


def sample_rows(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if len(x) <= n:
        return x
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return x[idx]


@dataclass
class ColumnResult:
    column: str
    test: str
    score: float
    threshold: float
    drifted: bool
    drift_when: str

    def to_dict(self) -> dict:
        return {"column": self.column, "test": self.test, "score": self.score, "threshold": self.threshold,
                "drifted": self.drifted, "drift_when": self.drift_when}


@dataclass
class DriftResult:
    columns: list[ColumnResult]
    drift_share: float
    drifted_count: int
    dataset_drift: bool
    threshold: float
    seconds: float
    snapshot: object = None

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]


def _direction(method: str) -> str:
    return "score < threshold" if "p_value" in method.lower() else "score >= threshold"


def run_drift(reference: pd.DataFrame, current: pd.DataFrame, drift_share: float = 0.5,
              html_path: str | None = None) -> DriftResult:
    """Evidently's DataDriftPreset with tests on numeric columns; optionally writes the HTML report."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    cols = list(reference.columns)
    dd = DataDefinition(numerical_columns=cols)
    snap = Report([DataDriftPreset(drift_share=drift_share)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=dd),
        reference_data=Dataset.from_pandas(reference, data_definition=dd))
    d = snap.dict()
    metrics = {}
    for m in d["metrics"]:
        cfg = m.get("config", {})
        if str(cfg.get("type", "")).endswith(":ValueDrift") and cfg.get("column") in cols:
            metrics[cfg["column"]] = (str(cfg.get("method", "")), float(cfg.get("threshold", 0.0)), float(m["value"]))
    status = {}
    for t in d.get("tests", []):
        c = (t.get("metric_config") or {}).get("params", {}).get("column")
        if c in metrics:
            status[c] = str(getattr(t.get("status"), "value", t.get("status"))).upper() == "FAIL"
    results = []
    for c in cols:
        method, threshold, score = metrics.get(c, ("", 0.0, float("nan")))
        if c in status:
            drifted = status[c]
        else:  # no test (should not happen with include_tests=True): decide by the method's direction
            drifted = score < threshold if "p_value" in method.lower() else score >= threshold
        results.append(ColumnResult(c, method, score, threshold, bool(drifted), _direction(method)))
    n = sum(r.drifted for r in results)
    share = n / len(results) if results else 0.0
    if html_path:
        snap.save_html(html_path)
    return DriftResult(results, share, n, share >= drift_share, drift_share, time.perf_counter() - start, snap)
