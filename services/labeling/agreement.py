"""Agreement and consensus statistics for labeling jobs: pure numpy, no I/O, no database.

Annotations come in as parallel arrays (one entry per annotation): the item index, the annotator
index and the label (a class index, a number, or a box array). Statistics that are undefined for
the data at hand (a kappa without any item rated twice, an accuracy without gold answers) are NaN.

Conventions, chosen once here:
- Fleiss' kappa accepts a varying number of ratings per item (the usual generalisation: P_i per item
  with its own n_i, category shares over all ratings); items with fewer than two ratings are left out.
  With a constant n it is exactly Fleiss (1971).
- When chance agreement is 1 (every rating in one category) kappa is 0/0: it is reported as 1.0 when
  observed agreement is perfect too, NaN otherwise.
- Plurality ties go to the class listed first in the schema (the lowest class index).
- Weighted votes use each annotator's Laplace-smoothed accuracy on gold items, (correct + 1) / (answered + 2):
  an annotator without gold answers weighs 0.5, a perfect one approaches 1, a poor one approaches 0.
- Numeric consensus is the (weighted) median; with an even number of equal weights it is the mean of the
  two middle values, as numpy.median.
- Boxes: per class, greedy IoU matching across annotators (a box joins the best-overlapping cluster at
  IoU >= threshold that has no box from the same annotator yet); a cluster becomes a consensus box when
  annotators carrying at least half of the item's vote weight drew it, and its coordinates are the
  weighted mean of the matched boxes. An item disagrees when some cluster lacks an annotator.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "accuracy_weights",
    "box_consensus",
    "boxes_match",
    "cohen_kappa",
    "disagreements",
    "fleiss_kappa",
    "gold_accuracy",
    "grouped_median",
    "grouped_spread",
    "iou",
    "pairwise_cohen",
    "plurality",
    "vote_counts",
]

_EPS = 1e-12


def _kappa(p_o: np.ndarray, p_e: np.ndarray) -> np.ndarray:
    p_o, p_e = np.asarray(p_o, dtype=float), np.asarray(p_e, dtype=float)
    degenerate = np.isclose(p_e, 1.0, atol=_EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (p_o - p_e) / np.where(degenerate, 1.0, 1.0 - p_e)
    return np.where(degenerate, np.where(np.isclose(p_o, 1.0, atol=_EPS), 1.0, np.nan), k)


def fleiss_kappa(counts: ArrayLike) -> float:
    """Fleiss' kappa from an items x categories table of rating counts."""
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2:
        raise ValueError("counts must be a 2-D items x categories table")
    n = table.sum(axis=1)
    keep = n >= 2
    table, n = table[keep], n[keep]
    if table.shape[0] == 0:
        return math.nan
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    p_j = table.sum(axis=0) / n.sum()
    return float(_kappa(p_i.mean(), (p_j**2).sum()))


def cohen_kappa(a: ArrayLike, b: ArrayLike, n_classes: int | None = None) -> float:
    """Cohen's kappa of two raters over the same items (class indices, equal length)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("a and b must be 1-D arrays of equal length")
    if a.size == 0:
        return math.nan
    c = int(n_classes or max(a.max(), b.max()) + 1)
    confusion = np.bincount(a * c + b, minlength=c * c).reshape(c, c) / a.size
    return float(_kappa(np.trace(confusion), confusion.sum(axis=1) @ confusion.sum(axis=0)))


def _within_group_pairs(items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j), i < j positions into `items` that share an item, without a Python loop."""
    order = np.argsort(items, kind="stable")
    sorted_items = items[order]
    n = sorted_items.size
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_items)) + 1]
    sizes = np.diff(np.r_[starts, n])
    group_end = np.repeat(starts + sizes, sizes)              # one past the last position of each group
    partners = group_end - np.arange(n) - 1                   # later positions in the same group
    left = np.repeat(np.arange(n), partners)
    offset = np.arange(left.size) - np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + offset
    return order[left], order[right]


def pairwise_cohen(items: ArrayLike, annotators: ArrayLike, classes: ArrayLike, n_classes: int
                   ) -> list[tuple[int, int, float, int]]:
    """Cohen's kappa for every annotator pair that shares items: (a, b, kappa, shared), a < b.

    All pairs are computed at once from the within-item annotation pairs, so the cost is the number of
    such pairs (items x k(k-1)/2), not annotators squared times items.
    """
    items = np.asarray(items, dtype=np.int64)
    annotators = np.asarray(annotators, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    left, right = _within_group_pairs(items)
    if left.size == 0:
        return []
    a, b = annotators[left], annotators[right]
    ca, cb = classes[left], classes[right]
    swap = a > b
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    ca, cb = np.where(swap, cb, ca), np.where(swap, ca, cb)
    n_annotators = int(annotators.max()) + 1
    keys, pid = np.unique(a * n_annotators + b, return_inverse=True)
    p = keys.size
    shared = np.bincount(pid, minlength=p).astype(float)
    agree = np.bincount(pid, weights=(ca == cb).astype(float), minlength=p)
    marg_a = np.bincount(pid * n_classes + ca, minlength=p * n_classes).reshape(p, n_classes)
    marg_b = np.bincount(pid * n_classes + cb, minlength=p * n_classes).reshape(p, n_classes)
    p_e = (marg_a * marg_b).sum(axis=1) / shared**2
    kappas = _kappa(agree / shared, p_e)
    return [(int(key // n_annotators), int(key % n_annotators), float(k), int(s))
            for key, k, s in zip(keys, kappas, shared, strict=True)]


def vote_counts(items: ArrayLike, classes: ArrayLike, n_items: int, n_classes: int,
                weights: ArrayLike | None = None) -> np.ndarray:
    """items x classes table of (weighted) votes."""
    items = np.asarray(items, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    flat = np.bincount(items * n_classes + classes, weights=None if weights is None else np.asarray(weights, float),
                       minlength=n_items * n_classes)
    return flat.astype(float).reshape(n_items, n_classes)


def plurality(counts: np.ndarray) -> np.ndarray:
    """Winning class per item (-1 where an item has no votes); ties go to the lowest class index."""
    winner = np.argmax(counts, axis=1)
    return np.where(counts.sum(axis=1) > 0, winner, -1)


def disagreements(counts: np.ndarray) -> np.ndarray:
    """True for items whose votes name more than one class."""
    return (counts > 0).sum(axis=1) > 1


def gold_accuracy(annotators: ArrayLike, correct: ArrayLike, n_annotators: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per annotator: gold items answered, answered correctly, and accuracy (NaN without gold answers)."""
    annotators = np.asarray(annotators, dtype=np.int64)
    correct = np.asarray(correct, dtype=float)
    answered = np.bincount(annotators, minlength=n_annotators)
    right = np.bincount(annotators, weights=correct, minlength=n_annotators)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(answered > 0, right / np.maximum(answered, 1), np.nan)
    return answered, right, accuracy


def accuracy_weights(answered: ArrayLike, right: ArrayLike) -> np.ndarray:
    """Vote weight per annotator: Laplace-smoothed gold accuracy, (right + 1) / (answered + 2)."""
    return (np.asarray(right, dtype=float) + 1.0) / (np.asarray(answered, dtype=float) + 2.0)


def _groups(items: np.ndarray, values: np.ndarray, weights: np.ndarray):
    order = np.lexsort((values, items))
    items, values, weights = items[order], values[order], weights[order]
    starts = np.r_[0, np.flatnonzero(np.diff(items)) + 1] if items.size else np.empty(0, np.int64)
    return items, values, weights, starts


def grouped_median(items: ArrayLike, values: ArrayLike, n_items: int, weights: ArrayLike | None = None
                   ) -> np.ndarray:
    """Per-item (weighted) median of `values`; NaN for items without values.

    The weighted median is the first value whose cumulative weight reaches half the item's total; when
    it lands exactly on half, the mean with the next value (so equal weights give numpy.median).
    """
    items = np.asarray(items, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    out = np.full(n_items, np.nan)
    if items.size == 0:
        return out
    items, values, weights, starts = _groups(items, values, weights)
    ends = np.r_[starts[1:], items.size]
    group_of = np.repeat(np.arange(starts.size), ends - starts)
    cum = np.cumsum(weights)
    within = cum - np.r_[0.0, cum][starts][group_of]     # cumulative weight inside each group
    half = within[ends - 1] / 2.0                          # per group
    tol = 1e-12 * np.maximum(1.0, half)
    reached = within >= (half - tol)[group_of]
    first = np.minimum.reduceat(np.where(reached, np.arange(items.size), items.size), starts)
    exact = (np.abs(within[first] - half) <= tol) & (first + 1 < ends)
    med = np.where(exact, (values[first] + values[np.minimum(first + 1, items.size - 1)]) / 2.0, values[first])
    out[items[starts]] = med
    return out


def grouped_spread(items: ArrayLike, values: ArrayLike, n_items: int) -> np.ndarray:
    """Per-item max - min of `values`; NaN for items without values."""
    items = np.asarray(items, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    out = np.full(n_items, np.nan)
    if items.size == 0:
        return out
    items, values, _, starts = _groups(items, values, np.ones_like(values))
    out[items[starts]] = np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
    return out


# --- bounding boxes: arrays of shape (n, 5) with columns class, x_min, y_min, x_max, y_max ------------

def iou(box: ArrayLike, boxes: ArrayLike) -> np.ndarray:
    """Intersection over union of one box (x_min, y_min, x_max, y_max) with each row of `boxes`."""
    box = np.asarray(box, dtype=float)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def boxes_match(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> bool:
    """True when the two box sets pair up one-to-one, same class, each pair at IoU >= threshold."""
    a, b = np.asarray(a, float).reshape(-1, 5), np.asarray(b, float).reshape(-1, 5)
    if len(a) != len(b):
        return False
    for cls in np.unique(np.r_[a[:, 0], b[:, 0]]):
        pa, pb = a[a[:, 0] == cls, 1:], b[b[:, 0] == cls, 1:]
        if len(pa) != len(pb):
            return False
        overlap = np.stack([iou(x, pb) for x in pa])
        for _ in range(len(pa)):  # greedy: best remaining pair first
            i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
            if overlap[i, j] < threshold:
                return False
            overlap[i, :], overlap[:, j] = -1.0, -1.0
    return True


def box_consensus(annotations: list[np.ndarray], weights: ArrayLike | None = None, threshold: float = 0.5
                  ) -> tuple[np.ndarray, bool]:
    """Consensus boxes of one item from several annotators' box arrays, and whether they disagree."""
    weights = np.ones(len(annotations)) if weights is None else np.asarray(weights, dtype=float)
    if not annotations:
        return np.empty((0, 5)), False
    total = float(weights.sum())
    result: list[np.ndarray] = []
    disagree = False
    pooled = [(w, i, row) for i, (arr, w) in enumerate(zip(annotations, weights, strict=True))
              for row in np.asarray(arr, float).reshape(-1, 5)]
    for cls in sorted({float(row[0]) for _, _, row in pooled}):
        members = sorted((p for p in pooled if p[2][0] == cls), key=lambda p: (-p[0], p[1]))
        clusters: list[dict] = []  # annotators, weight, weighted coordinate sum
        for w, who, row in members:
            best, best_iou = None, threshold
            if clusters:
                means = np.stack([c["sum"] / c["weight"] for c in clusters])
                overlaps = iou(row[1:], means)
                for ci in np.argsort(-overlaps, kind="stable"):
                    if overlaps[ci] >= best_iou and who not in clusters[ci]["who"]:
                        best = int(ci)
                        break
            if best is None:
                clusters.append({"who": {who}, "weight": w, "sum": w * row[1:]})
            else:
                c = clusters[best]
                c["who"].add(who)
                c["weight"] += w
                c["sum"] = c["sum"] + w * row[1:]
        for c in clusters:
            if len(c["who"]) < len(annotations):
                disagree = True
            if c["weight"] >= total / 2.0 - 1e-12:
                result.append(np.r_[cls, c["sum"] / c["weight"]])
    return (np.stack(result) if result else np.empty((0, 5))), disagree
