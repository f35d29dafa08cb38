"""Fixtures for the packaging tests: tools (helm, kube-score, kubectl, kubernetes-validate, hadolint)
from scripts/deploy-tools.sh, and rendered manifests for each chart scenario and kustomize overlay."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "gristmill"
KUSTOMIZE = ROOT / "k8s"
CRDS = Path(os.environ.get("GRISTMILL_KSERVE_CRDS", ROOT.parent / "shared" / "crds" / "kserve"))
RELEASE = "gristmill"
NAMESPACE = "gristmill"
# Oldest Kubernetes the chart supports (native gRPC probes are GA since 1.27) and a current one.
KUBE_VERSIONS = ("1.27.0", "1.35.0")

# The fixed service contract: name -> (gRPC port, metrics port).
CONTRACT = {
    "ingestion": (50051, 9101),
    "labeling": (50052, 9102),
    "preprocessing": (50053, 9103),
    "training": (50054, 9104),
    "evaluation": (50055, 9105),
    "deployment": (50056, 9106),
    "monitoring": (50057, 9107),
}
EVENT_TOPICS = {
    "gristmill.datasets.ingested.v1",
    "gristmill.labeling.dataset-labeled.v1",
    "gristmill.preprocessing.features-ready.v1",
    "gristmill.training.model-trained.v1",
    "gristmill.evaluation.model-evaluated.v1",
    "gristmill.deployment.model-deployed.v1",
    "gristmill.serving.inference-logged.v1",
    "gristmill.monitoring.drift-detected.v1",
    "gristmill.monitoring.model-degraded.v1",
}
DLQ_TOPICS = {f"gristmill-{name}.dlq" for name in CONTRACT}

# Chart scenarios: name -> values files under helm/gristmill/ci/.
SCENARIOS = {
    "defaults": [],
    "gpu": ["gpu-values.yaml"],
    "external-kafka": ["external-kafka-values.yaml"],
    "no-netpol": ["no-netpol-values.yaml"],
    "s3": ["s3-values.yaml"],
}
OVERLAYS = ("dev", "gpu")


@dataclass(frozen=True)
class Tools:
    helm: str
    kube_score: str
    deploy_python: str
    kubectl: str
    hadolint: str

    def run(self, *args: str, check: bool = True, input: str | None = None, cwd: Path = ROOT):
        proc = subprocess.run(list(args), cwd=cwd, input=input, capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="session")
def tools() -> Tools:
    """Install (or find cached) tools. A cold run builds helm and kube-score from Go modules: minutes."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-tools.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/deploy-tools.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    paths = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return Tools(
        helm=paths["HELM"],
        kube_score=paths["KUBE_SCORE"],
        deploy_python=paths["DEPLOY_PYTHON"],
        kubectl=paths["KUBECTL"],
        hadolint=paths["HADOLINT"],
    )


# libyaml's loader is ~10x faster; the KServe InferenceService CRD alone is 2 MB of YAML.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_docs(text: str) -> list[dict]:
    return [d for d in yaml.load_all(text, Loader=SafeLoader) if d]


def helm_template(tools: Tools, *extra: str, check: bool = True, release: str = RELEASE):
    return tools.run(
        tools.helm,
        "template",
        release,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSIONS[-1],
        *extra,
        check=check,
    )


@pytest.fixture(scope="session")
def rendered(tools: Tools) -> dict[str, list[dict]]:
    """Chart output for every scenario, rendered once per session."""
    out = {}
    for name, files in SCENARIOS.items():
        args = [a for f in files for a in ("-f", str(CHART / "ci" / f))]
        out[name] = load_docs(helm_template(tools, *args).stdout)
    return out


@pytest.fixture(scope="session")
def kustomized(tools: Tools) -> dict[str, list[dict]]:
    return {
        o: load_docs(tools.run(tools.kubectl, "kustomize", str(KUSTOMIZE / "overlays" / o)).stdout)
        for o in OVERLAYS
    }


@pytest.fixture(scope="session")
def kubernetes_validate(tools: Tools):
    """Validate objects with kubernetes-validate (strict) in the deploy venv; returns {index: error}."""

    def validate(docs: list[dict], version: str) -> dict[int, str]:
        proc = tools.run(
            tools.deploy_python,
            str(Path(__file__).with_name("k8s_validate.py")),
            version,
            input=json.dumps(docs),
        )
        return {int(k): v for k, v in json.loads(proc.stdout).items()}

    return validate


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    """Deployment name -> pod spec."""
    return {n: d["spec"]["template"]["spec"] for n, d in by_kind(docs, "Deployment").items()}


def component(obj: dict) -> str | None:
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")
