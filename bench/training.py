"""Training throughput: the service's training step vs a bare PyTorch loop, same model and data.

    .venv/bin/python bench/training.py [--samples 6000] [--epochs 3] [--repeats 3]

"service" is `services.training.trainer.Trainer.fit` exactly as the pipeline's train step runs it
(shuffling, loss and metric bookkeeping, cancellation checks, then per epoch: validation, epoch
metrics and a safetensors checkpoint written to a run dir). "bare" is the minimal loop (shuffle,
forward, loss, backward, step) on the same model, optimizer, batch size and data. The two
alternate and the best of `--repeats` counts for each, so noise from other work on the machine
hits both alike.

Printed ratios (goal >= 0.9):
* training step: training samples per second of the optimisation loop (the trainer times its own
  loop; validation and checkpoints excluded) / bare.
* whole epochs: training samples per second of `fit()` wall time, i.e. including per-epoch
  validation over the validation split and the checkpoint / bare.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common import modelzoo  # noqa: E402
from services.training.rundir import RunDir  # noqa: E402
from services.training.trainer import Trainer  # noqa: E402

PARAMS = {"channels": [16, 32], "hidden": [64], "dropout": 0.1}
SHAPE = [1, 16, 16]


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.int64)
    x = rng.standard_normal((n, *SHAPE)).astype(np.float32) * 0.5
    x[np.arange(n), 0, y, y] += 3.0  # learnable signal
    n_val = n // 5
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


def bare(x, y, epochs: int, batch: int, lr: float) -> float:
    torch.manual_seed(0)
    model = modelzoo.build_model("classification", "cnn", PARAMS, SHAPE, 10)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i: i + batch]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return len(xt) * epochs / (time.perf_counter() - t0)


def service(x, y, xv, yv, epochs: int, batch: int, lr: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer("classification", "cnn", PARAMS, SHAPE, 10,
                          {"epochs": epochs, "batch_size": batch, "learning_rate": lr, "optimizer": "adam"},
                          rundir=RunDir(Path(tmp).as_uri()))
        t0 = time.perf_counter()
        result = trainer.fit(x, y, xv, yv)
        wall = time.perf_counter() - t0
    return len(x) * epochs / wall, result.samples_per_second


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y, xv, yv = data(args.samples)
    bare(x[:256], y[:256], 1, args.batch_size, 1e-3)  # warm up kernels and allocator
    b_best = s_best = loop_best = 0.0
    for r in range(args.repeats):
        b = bare(x, y, args.epochs, args.batch_size, 1e-3)
        s, loop = service(x, y, xv, yv, args.epochs, args.batch_size, 1e-3)
        b_best, s_best, loop_best = max(b_best, b), max(s_best, s), max(loop_best, loop)
        print(f"repeat {r + 1}: bare {b:,.0f} samples/s, service step {loop:,.0f}, whole epochs {s:,.0f}")
    print(f"\ntraining throughput, CNN {PARAMS['channels']} on {len(x)} x {SHAPE} samples, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.threads} thread(s)")
    print(f"bare PyTorch loop:               {b_best:,.0f} samples/s")
    print(f"service training step:           {loop_best:,.0f} samples/s")
    print(f"service whole epochs:            {s_best:,.0f} samples/s  (+ validation of {len(xv)} samples and a "
          f"checkpoint per epoch)")
    print(f"ratio training step / bare:      {loop_best / b_best:.3f}  (goal >= 0.9)")
    print(f"ratio whole epochs / bare:       {s_best / b_best:.3f}")


if __name__ == "__main__":
    main()
