"""Normalization throughput: FittedTransform.apply (minmax and standard) against a bare numpy pass over the
same array, in the same run. Prints rows/s and the ratio apply / bare (goal: >= 0.5).

    .venv/bin/python bench/normalize.py [--rows 1000000] [--cols 32] [--repeats 7]

`apply` does what serving needs on top of the bare arithmetic: a fresh float32 output, the missing-value
check (and fill), and optional clipping; the bare pass is `(x - a) * b` on a float32 array.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.preprocessing.fit import fit_tabular  # noqa: E402
from services.preprocessing.spec import FeatureSpec  # noqa: E402


def best(fn, repeats: int) -> float:
    fn()  # warm up: page in the output buffers once
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--cols", type=int, default=32)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(args.rows, args.cols)) * rng.uniform(1, 100, args.cols) + rng.uniform(-50, 50, args.cols))
    x = x.astype(np.float32)
    cols = [f"f{i}" for i in range(args.cols)]
    df = pd.DataFrame(x, columns=cols)
    print(f"{args.rows} rows x {args.cols} float32 columns ({x.nbytes / 2**20:.0f} MiB), best of {args.repeats}")

    ratios = []
    for scaling in ("minmax", "standard"):
        t = fit_tabular(df, FeatureSpec(project="bench", scaling=scaling).normalized(), cols, [], [],
                        "regression", "y", [])
        if scaling == "minmax":
            lo = x.min(axis=0)
            inv = (1 / (x.max(axis=0) - lo)).astype(np.float32)

            def bare(lo=lo, inv=inv):
                return (x - lo) * inv
        else:
            mu = x.mean(axis=0, dtype=np.float64).astype(np.float32)
            sd = x.std(axis=0, dtype=np.float64).astype(np.float32)

            def bare(mu=mu, sd=sd):
                return (x - mu) / sd

        np.testing.assert_allclose(t.apply(x), bare(), rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(t.apply(df), t.apply(x))
        t_bare = best(bare, args.repeats)
        t_arr = best(lambda t=t: t.apply(x), args.repeats)
        t_df = best(lambda t=t: t.apply(df), args.repeats)
        for label, secs in (("bare numpy", t_bare), ("apply(ndarray)", t_arr), ("apply(DataFrame)", t_df)):
            print(f"  {scaling:8s} {label:17s} {args.rows / secs / 1e6:8.2f} M rows/s  ({secs * 1e3:7.1f} ms)")
        r_arr, r_df = t_bare / t_arr, t_bare / t_df
        ratios.append(min(r_arr, r_df))
        print(f"  {scaling:8s} ratio apply/bare: ndarray {r_arr:.2f}, DataFrame {r_df:.2f}")
    verdict = "meets" if min(ratios) >= 0.5 else "MISSES"
    print(f"worst ratio {min(ratios):.2f} ({verdict} the 0.5 goal)")


if __name__ == "__main__":
    main()
