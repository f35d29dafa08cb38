"""The example lifecycles run as scripts, end to end (inline executor: the KFP runner itself is
covered by test_training_pipeline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, kafka_bootstrap: str, tmp_path: Path) -> str:
    env = {**os.environ, "GRISTMILL_KAFKA_BOOTSTRAP": kafka_bootstrap, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--executor", "inline",
                           "--state-dir", str(tmp_path / "state")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(900)
def test_tabular_lifecycle(kafka_bootstrap, tmp_path):
    out = run_example("tabular_lifecycle.py", kafka_bootstrap, tmp_path)
    assert "== MLP (trained on FeaturesReady)" in out and "== decision tree (submitted over gRPC)" in out
    assert "gate (f1_macro on test): PASS" in out
    assert "result: MLP passed the gate" in out
    assert out.count("diagnosis: ") == 2 and "roc_auc=" in out


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(900)
def test_sequence_lifecycle(kafka_bootstrap, tmp_path):
    out = run_example("sequence_lifecycle.py", kafka_bootstrap, tmp_path)
    line = next(x for x in out.splitlines() if x.startswith("result: test MAE"))
    model_mae, naive_mae = float(line.split()[3]), float(line.split()[8])
    assert model_mae < naive_mae and "gate PASS" in line
