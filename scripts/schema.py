"""Snapshot of every service's tables in schema/<service>.json, the guard for schema migrations.

    .venv/bin/python scripts/schema.py --check   # in `make lint`: fails when models and snapshot differ
    .venv/bin/python scripts/schema.py --write   # after adding the revision that makes the change

A model change needs a revision in services/<name>/migrations/versions/ so that existing databases
follow it (new ones are created from the models); the snapshot makes that change visible in review.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from sqlalchemy import MetaData

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "schema"
BASES = {  # service -> module declaring its `Base`
    "ingestion": "services.ingestion.models",
    "labeling": "services.labeling.domain",
    "preprocessing": "services.preprocessing.models",
    "training": "services.training.tables",
    "evaluation": "services.evaluation.tables",
    "deployment": "services.deployment.models",
    "monitoring": "services.monitoring.models",
}


def describe(metadata: MetaData) -> dict:
    return {t.name: {
        "columns": {c.name: str(c.type) + ("" if c.nullable else " NOT NULL") + (" PRIMARY KEY" if c.primary_key else "")
                    for c in t.columns},
        "indexes": sorted(f"{i.name}({', '.join(c.name for c in i.columns)})" + (" UNIQUE" if i.unique else "")
                          for i in t.indexes),
    } for t in sorted(metadata.tables.values(), key=lambda t: t.name)}


def snapshots() -> dict[str, str]:
    return {name: json.dumps(describe(importlib.import_module(module).Base.metadata), indent=1, sort_keys=True) + "\n"
            for name, module in BASES.items()}


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        OUT.mkdir(exist_ok=True)
        for name, text in snapshots().items():
            (OUT / f"{name}.json").write_text(text)
        return 0
    if argv == ["--check"]:
        changed = [n for n, text in snapshots().items()
                   if not (OUT / f"{n}.json").exists() or (OUT / f"{n}.json").read_text() != text]
        if changed:
            print(f"tables changed in {', '.join(changed)}: add a revision under services/<name>/migrations/"
                  f"versions/ for existing databases, then run scripts/schema.py --write")
            return 1
        print("schema matches schema/*.json")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
