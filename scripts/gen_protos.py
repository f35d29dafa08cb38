"""Generate Python code for protos/gristmill/** into protos/gen/python.

The import path mirrors the proto package (gristmill.<domain>.v1), so generated modules
import each other without rewriting. `--check` regenerates into a temp dir and fails
if the committed code differs (CI uses it to catch drift).
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = PROTOS / "gen" / "python"


def generate(out: Path) -> None:
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "gristmill").rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    # argv[0] is the program name: protoc.main silently drops the first flag without it.
    args = ["protoc", f"-I{PROTOS}", f"-I{well_known}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for d in [out / "gristmill", *(p for p in (out / "gristmill").rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()


def tree(d: Path) -> dict[str, Path]:
    return {str(p.relative_to(d)): p for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def main() -> None:
    if "--check" not in sys.argv:
        shutil.rmtree(OUT / "gristmill", ignore_errors=True)
        generate(OUT)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        new, old = tree(Path(tmp)), tree(OUT)
        drift = sorted(set(new) ^ set(old)) + sorted(
            k for k in set(new) & set(old) if not filecmp.cmp(new[k], old[k], shallow=False))
        if drift:
            raise SystemExit("generated code drifted from protos/ (run `make protos`): " + ", ".join(drift))
    print("generated code matches protos/")


if __name__ == "__main__":
    main()
