"""Golden compile tests: every pipeline compiles to exactly the committed YAML (pipelines/compiled)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines import compile as pc
from pipelines.training import PIPELINES, GpuRequest, Toleration, build_pipeline
from services.training.executors import gpu_request


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_compiled_yaml_matches_golden(name, tmp_path):
    written = {p.name: p for p in pc.compile_all(tmp_path)}
    golden = pc.COMPILED / f"{name}.yaml"
    assert golden.exists(), "run `python -m pipelines.compile` and commit pipelines/compiled"
    assert pc.normalized(written[f"{name}.yaml"]) == pc.normalized(golden), \
        f"{golden} is stale: run `python -m pipelines.compile`"


def test_check_mode_detects_drift(tmp_path, monkeypatch):
    assert pc.main(["--check"]) == 0
    stale = tmp_path / "compiled"
    stale.mkdir()
    for p in pc.COMPILED.glob("*.yaml"):
        (stale / p.name).write_text(p.read_text().replace("gristmill-training", "other-name"))
    monkeypatch.setattr(pc, "COMPILED", stale)
    assert pc.main(["--check"]) == 1


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_pipeline_shape_and_gpu_placement():
    cpu = _docs(pc.COMPILED / "training.yaml")
    assert len(cpu) == 1  # no platform spec without GPU placement
    tasks = cpu[0]["root"]["dag"]["tasks"]
    assert set(tasks) >= {"load-features", "train-model", "condition-1"}
    assert "accelerator" not in yaml.safe_dump(cpu)
    inputs = cpu[0]["root"]["inputDefinitions"]["parameters"]
    assert inputs["job"]["parameterType"] == "STRING" and inputs["evaluate"]["defaultValue"] is True

    gpu, platform = _docs(pc.COMPILED / "training-gpu.yaml")
    train_exec = gpu["deploymentSpec"]["executors"]["exec-train-model"]["container"]
    accel = train_exec["resources"]["accelerator"]
    assert (accel["resourceType"], accel["resourceCount"]) == ("nvidia.com/gpu", "1")
    assert train_exec["image"] == "gristmill/services:0.1.0"  # docker/services.Dockerfile
    assert "--no-deps" not in " ".join(train_exec["command"])  # install_kfp_package=False: no pip step
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train-model"]
    assert k8s["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert k8s["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]


def test_gpu_request_from_settings_strings(tmp_path):
    req = gpu_request(2, "nvidia.com/gpu", "pool=a100,zone=eu", "nvidia.com/gpu:Exists:NoSchedule;team=ml:Equal:NoExecute")
    assert req == GpuRequest(count=2, node_selector=(("pool", "a100"), ("zone", "eu")),
                             tolerations=(Toleration(), Toleration("team", "Equal", "ml", "NoExecute")))
    assert gpu_request(0, "nvidia.com/gpu", "", "") is None
    from kfp import compiler

    out = tmp_path / "custom.yaml"
    compiler.Compiler().compile(build_pipeline(req), package_path=str(out))
    gpu, platform = _docs(out)
    assert gpu["deploymentSpec"]["executors"]["exec-train-model"]["container"]["resources"]["accelerator"][
        "resourceCount"] == "2"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train-model"]
    assert k8s["nodeSelector"]["labels"] == {"pool": "a100", "zone": "eu"}
    assert {"key": "team", "operator": "Equal", "value": "ml", "effect": "NoExecute"} in k8s["tolerations"]
