"""Seeded, optionally stratified train / validation / test splits."""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "validation", "test")


def strata_for_regression(y: np.ndarray, max_bins: int = 10) -> np.ndarray:
    """Quantile bins of a continuous target, so each split covers its range."""
    bins = int(min(max_bins, max(1, len(y) // 10)))
    if bins <= 1:
        return np.zeros(len(y), np.int64)
    edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, y, side="right").astype(np.int64)


def _allocate(counts: np.ndarray, share: float, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split `total` over strata in proportion to `counts` (largest remainder, ties broken at random)."""
    ideal = counts * share
    out = np.floor(ideal).astype(np.int64)
    short = int(total - out.sum())
    if short > 0:
        order = np.lexsort((rng.random(len(counts)), -(ideal - out)))
        out[order[:short]] += 1
    return np.minimum(out, counts)


def split_indices(n: int, fractions: tuple[float, float, float], seed: int,
                  strata: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Positions 0..n-1 dealt into the three splits, each in a seeded shuffled order.

    The split sizes are round(n * train) and round(n * (train + validation)) - round(n * train); the
    rest is test. With `strata` each stratum (class) gets its share of every split (largest
    remainder), and a stratum of one row goes to train. The same arguments give the same split.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    groups = np.zeros(n, np.int64) if strata is None else np.asarray(strata, np.int64)[perm]
    order = np.argsort(groups, kind="stable")          # random order within each stratum
    idx, g = perm[order], groups[order]
    counts = np.bincount(g)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - starts[g]
    train, validation, _ = fractions
    n_train = _allocate(counts, train, int(np.floor(n * train + 0.5)), rng)
    n_train = np.where(counts > 0, np.maximum(n_train, 1), 0)
    n_tv = np.maximum(_allocate(counts, train + validation, int(np.floor(n * (train + validation) + 0.5)), rng),
                      n_train)
    part = np.where(rank < n_train[g], 0, np.where(rank < n_tv[g], 1, 2))
    return {name: rng.permutation(idx[part == k]) for k, name in enumerate(SPLITS)}
