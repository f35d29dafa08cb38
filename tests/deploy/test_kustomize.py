"""kustomize base/components/overlays agree with the chart and keep the same guarantees."""

from __future__ import annotations

import pytest

from .conftest import CONTRACT, DLQ_TOPICS, EVENT_TOPICS, by_kind, pod_specs

pytestmark = pytest.mark.timeout(3000)


def workloads(docs: list[dict]) -> dict:
    """Deployment name -> (image, args, sorted container ports, sorted Service ports, probe ports)."""
    services = by_kind(docs, "Service")
    out = {}
    for name, spec in pod_specs(docs).items():
        (c,) = spec["containers"]
        out[name] = (
            c["image"],
            tuple(c["args"]),
            tuple(sorted((p["name"], p["containerPort"]) for p in c["ports"])),
            tuple(sorted((p["name"], p["port"]) for p in services[name]["spec"]["ports"])),
            tuple(c[k]["grpc"]["port"] for k in ("startupProbe", "readinessProbe", "livenessProbe")),
        )
    return out


def runtimes(docs):
    return {
        (d["metadata"]["name"], c["image"], tuple(p["containerPort"] for p in c["ports"]))
        for d in docs
        if d["kind"] in ("ServingRuntime", "ClusterServingRuntime")
        for c in d["spec"]["containers"]
    }


@pytest.mark.parametrize("overlay", ["dev", "gpu"])
def test_overlay_matches_chart(rendered, kustomized, overlay):
    chart = rendered["gpu" if overlay == "gpu" else "defaults"]
    kust = kustomized[overlay]
    assert workloads(kust) == workloads(chart)
    assert len(workloads(kust)) == len(CONTRACT)
    assert runtimes(kust) == runtimes(chart)
    topics = {d["spec"]["topicName"] for d in kust if d["kind"] == "KafkaTopic"}
    assert topics == EVENT_TOPICS | DLQ_TOPICS
    assert set(by_kind(kust, "NetworkPolicy")) == set(by_kind(chart, "NetworkPolicy"))
    assert {(d["kind"], d["metadata"]["name"]) for d in kust if d["kind"] in ("Role", "RoleBinding")} == {
        (d["kind"], d["metadata"]["name"]) for d in chart if d["kind"] in ("Role", "RoleBinding")
    }


def test_overlay_security_matches_chart(rendered, kustomized):
    chart = pod_specs(rendered["defaults"])
    for name, spec in pod_specs(kustomized["dev"]).items():
        (c,) = spec["containers"]
        (h,) = chart[name]["containers"]
        assert c["securityContext"] == h["securityContext"], name
        assert spec["securityContext"] == chart[name]["securityContext"], name
        assert c["resources"] == h["resources"], name
        assert spec["automountServiceAccountToken"] == chart[name]["automountServiceAccountToken"], name


def test_dev_overlay_settings(kustomized):
    docs = kustomized["dev"]
    assert {d["metadata"].get("namespace") for d in docs} == {"gristmill-dev"}
    (shared,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("gristmill-config")
    ]
    assert shared["data"]["GRISTMILL_LOG_LEVEL"] == "DEBUG"
    assert shared["data"]["GRISTMILL_KAFKA_BOOTSTRAP"] == "gristmill-kafka-bootstrap:9092"
    # The generated (hash-suffixed) name is what every Deployment references.
    for name, spec in pod_specs(docs).items():
        refs = [e["configMapRef"]["name"] for e in spec["containers"][0]["envFrom"]]
        assert shared["metadata"]["name"] in refs and name in refs
    secret = by_kind(docs, "Secret")["gristmill-database"]
    assert set(secret["data"]) == {f"{n}-database-url" for n in CONTRACT}
    (dep,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gristmill-deployment"
    ]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GRISTMILL_DEPLOYMENT_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_gpu_overlay_touches_training_only(kustomized):
    for name, spec in pod_specs(kustomized["gpu"]).items():
        limits = spec["containers"][0]["resources"]["limits"]
        if name == "gristmill-training":
            assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
            assert spec["tolerations"][0]["key"] == "nvidia.com/gpu"
            assert limits["nvidia.com/gpu"] == "1" and limits["memory"] == "4Gi"
        else:
            assert "nodeSelector" not in spec and "tolerations" not in spec, name
            assert "nvidia.com/gpu" not in limits, name


def env_of(docs: list[dict], deployment: str) -> dict[str, str]:
    """Plain env of a Deployment's container: ConfigMaps from envFrom, then literal env values."""
    cms = by_kind(docs, "ConfigMap")
    (c,) = by_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for ref in c.get("envFrom", []):
        env.update(cms[ref["configMapRef"]["name"]]["data"])
    env.update({e["name"]: e.get("value", "<ref>") for e in c.get("env", [])})
    return env


def test_overlay_settings_match_chart(rendered, kustomized):
    """Same settings reach each service either way (allowing for what the dev overlay changes on purpose)."""
    on_purpose = {"GRISTMILL_LOG_LEVEL", "GRISTMILL_DEPLOYMENT_NAMESPACE"}
    for name in CONTRACT:
        chart = env_of(rendered["defaults"], f"gristmill-{name}")
        kust = env_of(kustomized["dev"], f"gristmill-{name}")
        assert set(chart) == set(kust), name
        assert {k: v for k, v in chart.items() if k not in on_purpose} == {
            k: v for k, v in kust.items() if k not in on_purpose
        }, name
