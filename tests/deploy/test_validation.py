"""Schema validation of everything the chart and the overlays render:
built-in kinds with kubernetes-validate (strict), KServe kinds against the CRDs' openAPIV3Schema."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from .conftest import CRDS, KUBE_VERSIONS, OVERLAYS, SCENARIOS, SafeLoader

pytestmark = pytest.mark.timeout(3000)

KSERVE_KINDS = {"InferenceService", "ServingRuntime", "ClusterServingRuntime"}
# Strimzi ships no schema here; its objects are checked structurally in test_chart.py.
STRIMZI_GROUP = "kafka.strimzi.io/"


def builtin(docs):
    return [
        d for d in docs if d["kind"] not in KSERVE_KINDS and not d["apiVersion"].startswith(STRIMZI_GROUP)
    ]


def test_no_unknown_kinds(rendered, kustomized):
    known_custom = KSERVE_KINDS | {"Kafka", "KafkaNodePool", "KafkaTopic"}
    for docs in list(rendered.values()) + list(kustomized.values()):
        for d in docs:
            if d["kind"] in known_custom:
                continue
            assert "." not in d["apiVersion"].split("/")[0] or d["apiVersion"].split("/")[0].endswith(
                ".k8s.io"
            ), d


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_chart_objects_validate_strictly(rendered, kubernetes_validate, version):
    for scenario in SCENARIOS:
        docs = builtin(rendered[scenario])
        assert len(docs) > 20
        assert kubernetes_validate(docs, version) == {}, scenario


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_overlay_objects_validate_strictly(kustomized, kubernetes_validate, version):
    for overlay in OVERLAYS:
        docs = builtin(kustomized[overlay])
        assert kubernetes_validate(docs, version) == {}, overlay


def test_strict_validation_catches_mistakes(rendered, kubernetes_validate):
    """The validator must reject a misspelt field and a wrong type, or the checks above prove nothing."""
    dep = next(d for d in rendered["defaults"] if d["kind"] == "Deployment")
    typo = copy.deepcopy(dep)
    typo["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    wrong_type = copy.deepcopy(dep)
    wrong_type["spec"]["replicas"] = "one"
    errors = kubernetes_validate([dep, typo, wrong_type], KUBE_VERSIONS[-1])
    assert set(errors) == {1, 2}, errors


# ---------------------------------------------------------------- KServe CRDs


@pytest.fixture(scope="session")
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema from /work/shared/crds/kserve."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=SafeLoader)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            schemas[(f"{group}/{v['name']}", kind)] = v["schema"]["openAPIV3Schema"]
    assert {k for _, k in schemas} == KSERVE_KINDS, f"KServe CRDs not found in {CRDS}"
    return schemas


def crd_errors(schemas, obj) -> list[str]:
    schema = schemas[(obj["apiVersion"], obj["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(obj)]


def kserve_objects(rendered, kustomized):
    for name, docs in list(rendered.items()) + [(f"overlay {o}", d) for o, d in kustomized.items()]:
        for d in docs:
            if d["kind"] in KSERVE_KINDS:
                yield name, d


def test_kserve_objects_match_crds(rendered, kustomized, crd_schemas):
    seen = set()
    for source, obj in kserve_objects(rendered, kustomized):
        assert crd_errors(crd_schemas, obj) == [], (source, obj["kind"], obj["metadata"]["name"])
        seen.add(obj["kind"])
    assert seen == KSERVE_KINDS  # the scenarios exercise all three kinds


def test_crd_validation_catches_mistakes(rendered, crd_schemas):
    isvc = next(d for d in rendered["s3"] if d["kind"] == "InferenceService")
    broken = copy.deepcopy(isvc)
    del broken["spec"]["predictor"]
    assert crd_errors(crd_schemas, broken)
    runtime = next(d for d in rendered["defaults"] if d["kind"] == "ServingRuntime")
    broken = copy.deepcopy(runtime)
    broken["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    assert crd_errors(crd_schemas, broken)


def test_runtime_serves_the_predictor_image(rendered):
    runtime = next(d for d in rendered["defaults"] if d["kind"] == "ServingRuntime")
    (c,) = runtime["spec"]["containers"]
    assert c["name"] == "kserve-container"
    assert c["image"] == "gristmill/predictor:0.1.0"
    assert "--model_name={{.Name}}" in c["args"]  # left for KServe to fill in, not eaten by helm
    assert {"--http_port=8080", "--grpc_port=8081"} <= set(c["args"])
    assert runtime["spec"]["supportedModelFormats"][0]["name"] == "gristmill"
    assert runtime["metadata"]["namespace"] == "gristmill"
