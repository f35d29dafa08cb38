"""Run one training pipeline locally: `python -m pipelines.local_driver <job.json> [--no-evaluate]`.

The training service starts this in its own process group for every local run, because
`kfp.local.init` is process-global and a separate process can be stopped (CancelRun) or outlive a
crashed service without taking it down. Exit status 0 means the pipeline succeeded; the outcome
itself is in the run dir's result.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print("usage: python -m pipelines.local_driver <job.json> [--no-evaluate]", file=sys.stderr)
        return 2
    job_path = Path(args[0])
    job = job_path.read_text()
    root = json.loads(job).get("pipeline_root") or str(job_path.parent / "kfp")
    import warnings

    # the SubprocessRunner warns when an image name lacks "python"; locally the image is not used
    warnings.filterwarnings("ignore", message=".*non-Python base image.*", category=RuntimeWarning)
    from pipelines.training import run_local

    try:
        run_local(job, pipeline_root=root, evaluate="--no-evaluate" not in argv)
    except Exception as exc:  # noqa: BLE001 - reported through the exit status and the log
        print(f"pipeline failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
