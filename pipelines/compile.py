"""Compile every pipeline to `pipelines/compiled/<name>.yaml` (what the KFP UI uploads).

    python -m pipelines.compile [--out DIR] [--check]

`--check` compiles into a temporary directory and fails when the committed YAML differs
(ignoring `sdkVersion`, the only field that changes with the SDK patch version).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml
from kfp import compiler

from pipelines.training import PIPELINES

COMPILED = Path(__file__).resolve().parent / "compiled"


def compile_all(out: Path = COMPILED) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in sorted(PIPELINES.items()):
        path = out / f"{name}.yaml"
        compiler.Compiler().compile(pipeline, package_path=str(path))
        written.append(path)
    return written


def normalized(path: Path) -> list[dict]:
    """The YAML documents with volatile fields removed, for comparisons."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for d in docs:
        d.pop("sdkVersion", None)
    return docs


def main(argv: list[str]) -> int:
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as tmp:
            stale = [p.name for p in compile_all(Path(tmp))
                     if not (COMPILED / p.name).exists() or normalized(p) != normalized(COMPILED / p.name)]
        if stale:
            print(f"compiled pipelines are stale: {stale}; run `python -m pipelines.compile`", file=sys.stderr)
            return 1
        return 0
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else COMPILED
    for p in compile_all(out):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
