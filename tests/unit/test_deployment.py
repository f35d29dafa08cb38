"""Deployment in cluster mode: the InferenceService manifest against KServe's CRD schema, and the
CustomObjectsApi calls of rollout / canary / promote / rollback / failure (a fake api object, since no
cluster runs here). Local mode runs real ModelServers in tests/integration/test_deployment.py."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from kubernetes.client import ApiException

from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import Artifact, ArtifactStore
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.store import Store
from services.deployment.cluster import ClusterBackend, build_manifest
from services.deployment.config import DeploymentSettings
from services.deployment.domain import Deployments, check_model_name, default_model_name
from services.deployment.gateway import pick_endpoint
from services.deployment.local import Target
from services.deployment.models import Base

CRD = Path("/work/shared/crds/kserve/serving.kserve.io_inferenceservices.yaml")


def strict(schema: dict) -> dict:
    """The CRD schema, rejecting unknown fields (the apiserver would prune them silently)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    return s


@pytest.fixture(scope="module")
def isvc_schema():
    """A validator for the v1beta1 schema (built once: jsonschema.validate re-checks a 1 MB schema per call)."""
    doc = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (v1beta1,) = [v for v in doc["spec"]["versions"] if v["name"] == "v1beta1"]
    return jsonschema.Draft7Validator(strict(v1beta1["schema"]["openAPIV3Schema"]))


def merge_patch(target, patch):
    """RFC 7386, as the apiserver applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class FakeCustomObjects:
    """Just enough of CustomObjectsApi: stores objects, bumps generations, reports readiness."""

    def __init__(self, schema):
        self.schema, self.objects, self.calls = schema, {}, []
        self.ready = True

    def _key(self, group, version, plural):
        assert (group, version, plural) == ("serving.kserve.io", "v1beta1", "inferenceservices")

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        self._key(group, version, plural)
        if name not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        obj = copy.deepcopy(self.objects[name])
        gen = obj["metadata"]["generation"]
        obj["status"] = {"observedGeneration": gen, "url": f"http://{name}.{namespace}.example.com",
                         "conditions": [{"type": "Ready", "status": "True" if self.ready else "False",
                                         "message": "" if self.ready else "RevisionMissing"}]}
        return obj

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self._key(group, version, plural)
        self.schema.validate(body)
        self.calls.append(("create", body["metadata"]["name"], copy.deepcopy(body)))
        obj = copy.deepcopy(body)
        obj["metadata"]["generation"] = 1
        self.objects[obj["metadata"]["name"]] = obj
        return copy.deepcopy(obj)

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        self._key(group, version, plural)
        self.calls.append(("patch", name, copy.deepcopy(body)))
        obj = merge_patch(self.objects[name], body)
        obj["metadata"]["generation"] = self.objects[name]["metadata"]["generation"] + 1
        self.schema.validate({k: v for k, v in obj.items() if k != "status"})
        self.objects[name] = obj
        return copy.deepcopy(obj)

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append(("delete", name, None))
        self.objects.pop(name, None)


class CapturePublisher:
    def __init__(self):
        self.events = []

    def stage(self, session, event, key=""):
        self.events.append(event)

    def flush(self, timeout=30.0):
        return 0


@pytest.fixture
def cluster(tmp_path, isvc_schema):
    settings = DeploymentSettings(service="deployment", state_dir=tmp_path, mode="cluster", namespace="ml",
                                  serving_image="registry.local/gristmill-serving:1", ready_timeout=0.3,
                                  kafka_bootstrap="kafka.ml:9092", artifact_uri="s3://gristmill/artifacts")
    api = FakeCustomObjects(isvc_schema)
    store = Store(settings.database_url, Base)
    artifacts = ArtifactStore((tmp_path / "artifacts").as_uri())
    pub = CapturePublisher()
    d = Deployments(store, artifacts, pub, settings, backend=ClusterBackend(settings, api=api, poll=0.01))
    yield d, api, pub, artifacts
    store.engine.dispose()


def card(artifacts, version):
    return artifacts.put_bytes(f'{{"model_version_id": "{version}"}}'.encode())


def test_manifest_matches_the_crd_schema(isvc_schema):
    settings = DeploymentSettings(service="deployment", namespace="ml", serving_image="img:1",
                                  storage_env="AWS_ACCESS_KEY_ID=x, AWS_REGION=eu", s3_endpoint_url="http://s3:9000")
    t = Target("dep-1", "shop", "churn", "mv-abc", "s3://b/sha256/aa/aa", "aa" * 32)
    m = build_manifest(t, settings, canary_percent=20)
    isvc_schema.validate(m)
    assert m["apiVersion"] == "serving.kserve.io/v1beta1" and m["kind"] == "InferenceService"
    assert m["metadata"] == {"name": "churn", "namespace": "ml", "labels": m["metadata"]["labels"],
                             "annotations": m["metadata"]["annotations"]}
    pred = m["spec"]["predictor"]
    assert pred["canaryTrafficPercent"] == 20 and pred["minReplicas"] == 1
    (c,) = pred["containers"]
    assert c["name"] == "kserve-container" and c["image"] == "img:1"
    assert c["args"][c["args"].index("--card_sha256") + 1] == "aa" * 32
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["GRISTMILL_SERVING_PROJECT"] == "shop" and env["AWS_REGION"] == "eu"
    assert env["GRISTMILL_S3_ENDPOINT_URL"] == "http://s3:9000"
    assert "canaryTrafficPercent" not in build_manifest(t, settings)["spec"]["predictor"]
    # the strict schema does catch a snake_case field (what to_dict() would produce)
    broken = copy.deepcopy(m)
    broken["spec"]["predictor"]["min_replicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        isvc_schema.validate(broken)


def test_cluster_rollout_canary_promote_rollback(cluster):
    d, api, pub, artifacts = cluster
    first = d.deploy("shop", "churn", "mv-1", card=card(artifacts, "mv-1"))
    assert first.state == "PENDING" and first.mode == "cluster"
    assert d.run_pending() == 1
    first = d.get(first.deployment_id)
    assert first.state == "READY" and first.traffic_percent == 100
    assert first.rest_endpoint == "http://churn.ml.example.com"
    assert [c[0] for c in api.calls] == ["create"]
    assert "canaryTrafficPercent" not in api.objects["churn"]["spec"]["predictor"]

    # a canary: patched with the new version and canaryTrafficPercent
    c2 = card(artifacts, "mv-2")
    canary = d.deploy("shop", "churn", "mv-2", canary_percent=25, card=c2)
    d.run_pending()
    canary = d.get(canary.deployment_id)
    kind, name, body = api.calls[-1]
    assert (kind, name) == ("patch", "churn") and body["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert body["metadata"]["labels"]["gristmill.io/model-version"] == "mv-2"
    assert c2.sha256 in body["spec"]["predictor"]["containers"][0]["args"]
    assert canary.state == "READY" and canary.traffic_percent == 25
    assert d.get(first.deployment_id).traffic_percent == 75
    assert {(e.model_version_id, e.traffic_percent) for e in d.endpoints("churn")} == {("mv-1", 75), ("mv-2", 25)}

    promoted = d.promote(canary.deployment_id)
    assert api.calls[-1][2]["spec"]["predictor"] == {"canaryTrafficPercent": None}
    assert "canaryTrafficPercent" not in api.objects["churn"]["spec"]["predictor"]
    assert promoted.traffic_percent == 100 and d.get(first.deployment_id).state == "SUPERSEDED"

    rolled = d.rollback(canary.deployment_id)
    assert rolled.state == "ROLLED_BACK"
    assert api.objects["churn"]["metadata"]["labels"]["gristmill.io/model-version"] == "mv-1"
    assert d.get(first.deployment_id).state == "READY"
    deployed = [e for e in pub.events if isinstance(e, ev.ModelDeployed)]
    assert [(e.model_version_id, e.canary_percent) for e in deployed] == [
        ("mv-1", 100), ("mv-2", 25), ("mv-2", 100), ("mv-1", 100)]
    assert deployed[-1].previous_model_version_id == "mv-2"


def test_cluster_failed_rollout_restores_the_previous_version(cluster):
    d, api, pub, artifacts = cluster
    first = d.deploy("shop", "churn", "mv-1", card=card(artifacts, "mv-1"))
    d.run_pending()
    api.ready = False
    bad = d.deploy("shop", "churn", "mv-bad", card=card(artifacts, "mv-bad"))
    d.run_pending()
    bad = d.get(bad.deployment_id)
    assert bad.state == "FAILED" and "not ready within" in bad.message and "mv-1 keeps serving" in bad.message
    assert api.objects["churn"]["metadata"]["labels"]["gristmill.io/model-version"] == "mv-1"  # patched back
    assert d.get(first.deployment_id).state == "READY"
    assert len([e for e in pub.events if isinstance(e, ev.ModelDeployed)]) == 1
    # with nothing to go back to, the half-created InferenceService is deleted
    lone = d.deploy("other", "lonely", "mv-x", card=card(artifacts, "mv-x"))
    d.run_pending()
    assert d.get(lone.deployment_id).state == "FAILED" and "lonely" not in api.objects
    assert api.calls[-1][0] == "delete"


def test_domain_rules_without_any_backend_call(cluster):
    d, api, pub, artifacts = cluster
    with pytest.raises(NotFound, match="unknown"):
        d.deploy("shop", "churn", "mv-unknown")
    with pytest.raises(InvalidArgument):
        d.deploy("shop", "Bad_Name", "mv-1", card=card(artifacts, "mv-1"))
    with pytest.raises(InvalidArgument):
        d.deploy("shop", "churn", "mv-1", canary_percent=101, card=card(artifacts, "mv-1"))
    with pytest.raises(NotFound):
        d.deploy("shop", "churn", "mv-1", card=Artifact(artifacts.root_uri + "/sha256/00/00", "00", 0))
    dep = d.deploy("shop", "", "mv-1", card=card(artifacts, "mv-1"))
    assert dep.model_name == "shop"
    with pytest.raises(InvalidArgument, match="never changes"):
        d.deploy("shop", "other-name", "mv-1", card=card(artifacts, "mv-1b"))
    with pytest.raises(AlreadyExists):
        d.deploy("shop", "", "mv-1")                        # pending already
    with pytest.raises(InvalidArgument, match="belongs to project"):
        d.deploy("other", "", "mv-1")
    with pytest.raises(FailedPrecondition, match="served for project shop"):
        d.deploy("other", "shop", "mv-2", card=card(artifacts, "mv-2"))
    assert api.calls == []
    d.put_policy("p2", "", 10, True, 0)
    with d.store.session() as s:  # manual approval: a passing evaluation does not deploy
        d.on_model_evaluated(ev.ModelEvaluated(meta=ev.EventMeta(event_id="e1", project="p2"),
                                               model_version_id="mv-9", evaluation_id="ev-9", passed=True), s)
    assert d.count(project="p2") == 0


def test_names_and_endpoint_choice():
    assert default_model_name("My Project_1") == "my-project-1"
    assert default_model_name("42") == "m-42"
    assert len(default_model_name("x" * 100)) == 63
    assert check_model_name("digits-2") == "digits-2"
    for bad in ("2digits", "Digits", "a_b", "a-", "x" * 64):
        with pytest.raises(InvalidArgument):
            check_model_name(bad)
    import random

    rng = random.Random(0)
    picks = [pick_endpoint([("old", 70), ("new", 30)], rng) for _ in range(1000)]
    assert 250 < picks.count("new") < 350
    assert pick_endpoint([("only", 100), ("none", 0)], rng) == "only"
    with pytest.raises(ValueError):
        pick_endpoint([("none", 0)])


def test_gateway_picks_by_weight_caches_routes_and_refuses_unknown_models():
    import random

    from starlette.testclient import TestClient

    from services.deployment.domain import EndpointView
    from services.deployment.gateway import Gateway

    calls: list[str] = []
    table = {"m": [EndpointView("d1", "v1", "http://a", "a:1", 70), EndpointView("d2", "v2", "http://b", "b:1", 30),
                   EndpointView("d0", "v0", "http://c", "c:1", 0)]}
    g = Gateway(lambda name: calls.append(name) or table.get(name, []), rng=random.Random(0))
    picks = [g.pick("m").model_version_id for _ in range(1000)]
    assert 250 <= picks.count("v2") <= 350 and picks.count("v1") + picks.count("v2") == 1000
    assert calls == ["m"]                      # read once, then cached
    assert g.pick("m", fresh=True).rest in ("http://a", "http://b") and calls == ["m", "m"]
    assert g.pick("nobody") is None
    with TestClient(g.app) as client:
        missing = client.post("/v2/models/nobody/infer", json={})
        assert missing.status_code == 404 and "no READY deployment" in missing.json()["error"]
        assert client.get("/not/a/model/path").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}
