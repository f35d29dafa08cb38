"""helm lint and helm template of helm/gristmill under several value scenarios."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from .conftest import (
    CHART,
    CONTRACT,
    DLQ_TOPICS,
    EVENT_TOPICS,
    NAMESPACE,
    SCENARIOS,
    by_kind,
    component,
    helm_template,
    load_docs,
    pod_specs,
)

# A cold tool build (first use of the `tools` fixture) takes minutes.
pytestmark = pytest.mark.timeout(3000)


# gRPC calls between services in the code (caller -> callees); everything else travels over Kafka.
GRPC_CALLS = {"evaluation": ["training"], "training": ["preprocessing"]}


def full(name: str) -> str:
    return f"gristmill-{name}"


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


# ---------------------------------------------------------------- lint and values schema


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_strict(tools, scenario):
    args = [a for f in SCENARIOS[scenario] for a in ("-f", str(CHART / "ci" / f))]
    proc = tools.run(tools.helm, "lint", "--strict", str(CHART), *args)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("image.tag=latest", "/image/tag"),
        ("global.mode=prod", "/global/mode"),
        ("services.billing.port=50099", "billing"),
        ("services.training.port=70000", "/services/training/port"),
        ("artifacts.type=nfs", "/artifacts/type"),
        ("serving.runtime.kind=Runtime", "/serving/runtime/kind"),
        ("kafka.bootstrap=no-port", "/kafka/bootstrap"),
    ],
)
def test_values_schema_rejects_bad_values(tools, flag, message):
    proc = helm_template(tools, "--set", flag, check=False)
    assert proc.returncode != 0, f"--set {flag} rendered without error"
    assert message in proc.stderr, proc.stderr


def test_required_settings_fail_loudly(tools):
    proc = helm_template(tools, "--set", "kafka.strimzi.enabled=false", check=False)
    assert proc.returncode != 0 and "kafka.bootstrap is required" in proc.stderr
    proc = helm_template(tools, "--set", "artifacts.type=s3", check=False)
    assert proc.returncode != 0 and "existingSecret is required" in proc.stderr


def test_kube_version_constraint(tools):
    proc = tools.run(tools.helm, "template", "x", str(CHART), "--kube-version", "1.25.0", check=False)
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr


def test_notes_explain_how_to_reach_services(tools):
    proc = tools.run(
        tools.helm, "install", "gristmill", str(CHART), "--dry-run=client", "--namespace", NAMESPACE
    )
    notes = proc.stdout.split("NOTES:", 1)[1]
    for name, (port, _) in CONTRACT.items():
        assert f"{full(name)}:{port}" in notes
    assert "port-forward svc/gristmill-ingestion 50051:50051" in notes
    assert "grpcurl -plaintext localhost:50051 list" in notes
    assert "port-forward svc/ml-pipeline-ui" in notes


# ---------------------------------------------------------------- default install


def test_one_workload_per_service_with_contract_ports(rendered):
    docs = rendered["defaults"]
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {full(n) for n in CONTRACT}
    services = by_kind(docs, "Service")
    for name, (port, metrics) in CONTRACT.items():
        (c,) = deployments[full(name)]["spec"]["template"]["spec"]["containers"]
        assert c["image"] == "gristmill/services:0.1.0"
        assert c["args"] == [f"services.{name}"]
        assert {(p["name"], p["containerPort"]) for p in c["ports"]} == {("grpc", port), ("metrics", metrics)}
        svc_ports = {(p["name"], p["port"], p["targetPort"]) for p in services[full(name)]["spec"]["ports"]}
        assert svc_ports == {("grpc", port, "grpc"), ("metrics", metrics, "metrics")}
        assert services[full(name)]["spec"]["selector"]["app.kubernetes.io/component"] == name
        # Each service has its own ServiceAccount and ConfigMap.
        assert deployments[full(name)]["spec"]["template"]["spec"]["serviceAccountName"] == full(name)
        assert full(name) in by_kind(docs, "ServiceAccount")
        assert full(name) in by_kind(docs, "ConfigMap")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_container_is_hardened(rendered, scenario):
    docs = rendered[scenario]
    specs = list(pod_specs(docs).items())
    runtimes = [d for d in docs if d["kind"] in ("ServingRuntime", "ClusterServingRuntime")]
    specs += [(d["metadata"]["name"], d["spec"]) for d in runtimes]
    assert len(specs) >= 8
    for name, spec in specs:
        pod_sc = spec.get("securityContext", {})
        if "securityContext" in spec:  # ServingRuntime has no pod-level securityContext
            assert pod_sc["runAsNonRoot"] is True, name
            assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        mounts_ok = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            assert sc.get("runAsUser", 1) != 0, name
            # Read-only root: /tmp must be a writable emptyDir.
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in mounts_ok, name
            assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"], name


def test_state_dir_is_writable_emptydir(rendered):
    for name, spec in pod_specs(rendered["defaults"]).items():
        (c,) = spec["containers"]
        env = by_kind(rendered["defaults"], "ConfigMap")[name]["data"]
        state = [m for m in c["volumeMounts"] if m["mountPath"] == env["GRISTMILL_STATE_DIR"]]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert state and "emptyDir" in volumes[state[0]["name"]], name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_probes_are_native_grpc_on_the_service_port(rendered, scenario):
    for name, spec in pod_specs(rendered[scenario]).items():
        (c,) = spec["containers"]
        port = CONTRACT[name.removeprefix("gristmill-")][0]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c[kind]
            assert set(probe) & {"httpGet", "exec", "tcpSocket"} == set(), (name, kind)
            assert probe["grpc"] == {"port": port}, (name, kind)
        # Liveness must be more tolerant than readiness: a busy pod leaves rotation before it is killed.
        live, ready = c["livenessProbe"], c["readinessProbe"]
        assert (
            live["periodSeconds"] * live["failureThreshold"]
            > ready["periodSeconds"] * ready["failureThreshold"]
        )


def test_service_settings_follow_the_env_contract(rendered):
    docs = rendered["defaults"]
    cms = by_kind(docs, "ConfigMap")
    for name, (port, _) in CONTRACT.items():
        data = cms[full(name)]["data"]
        assert data[f"GRISTMILL_{name.upper()}_PORT"] == str(port)
        assert data["GRISTMILL_KAFKA_BOOTSTRAP"] == "gristmill-kafka-bootstrap:9092"
        assert data["GRISTMILL_MODE"] == "cluster"
        assert data["GRISTMILL_ARTIFACT_URI"] == "file:///var/lib/gristmill-artifacts"
        # The code binds 127.0.0.1 unless told otherwise; probes and Services need all interfaces.
        assert data["GRISTMILL_HOST"] == "0.0.0.0"
        addresses = {k: v for k, v in data.items() if k.endswith("_ADDRESS")}
        assert addresses == {
            f"GRISTMILL_{name.upper()}_{callee.upper()}_ADDRESS": f"gristmill-{callee}:{CONTRACT[callee][0]}"
            for callee in GRPC_CALLS.get(name, [])
        }
        assert ("GRISTMILL_TRAINING_KFP_HOST" in data) == (name == "training")
        assert ("GRISTMILL_DEPLOYMENT_NAMESPACE" in data) == (name == "deployment")
        (c,) = by_kind(docs, "Deployment")[full(name)]["spec"]["template"]["spec"]["containers"]
        db = {e["name"]: e for e in c["env"]}[f"GRISTMILL_{name.upper()}_DATABASE_URL"]
        assert db["valueFrom"]["secretKeyRef"] == {
            "name": "gristmill-database",
            "key": f"{name}-database-url",
        }
    assert cms[full("training")]["data"]["GRISTMILL_TRAINING_KFP_HOST"].endswith(
        "ml-pipeline.kubeflow.svc.cluster.local:8888"
    )
    assert cms[full("deployment")]["data"]["GRISTMILL_DEPLOYMENT_NAMESPACE"] == NAMESPACE
    # The deployment service puts this image into the InferenceServices it creates.
    assert (
        cms[full("deployment")]["data"]["GRISTMILL_DEPLOYMENT_SERVING_IMAGE"] == "gristmill/predictor:0.1.0"
    )
    # One database per service in the chart-made Secret.
    secret = by_kind(docs, "Secret")["gristmill-database"]["stringData"]
    assert secret["training-database-url"].endswith("/gristmill_training")
    assert len(set(secret.values())) == len(CONTRACT)


def rbac_grants(docs: list[dict]) -> dict[str, set[tuple[str, str, str, str]]]:
    """ServiceAccount name -> {(namespace, apiGroup, resource, verb)} from Roles/ClusterRoles and bindings."""
    roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
    grants: dict[str, set] = {}
    for b in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        role = roles[(b["roleRef"]["kind"], b["roleRef"]["name"])]
        ns = b["metadata"].get("namespace", "*")
        for s in b["subjects"]:
            assert s["kind"] == "ServiceAccount"
            for rule in role["rules"]:
                for g in rule["apiGroups"]:
                    for r in rule["resources"]:
                        for v in rule["verbs"]:
                            grants.setdefault(s["name"], set()).add((ns, g, r, v))
    return grants


@pytest.mark.parametrize("scenario", ["defaults", "s3"])
def test_rbac_is_least_privilege(rendered, scenario):
    docs = rendered[scenario]
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    grants = rbac_grants(docs)
    serving_ns = "models" if scenario == "s3" else NAMESPACE
    kfp_ns = "ml-team" if scenario == "s3" else NAMESPACE
    assert set(grants) == {full("deployment"), full("training")}
    deploy = grants[full("deployment")]
    assert deploy == {
        (serving_ns, "serving.kserve.io", "inferenceservices", v)
        for v in ("create", "patch", "get", "list", "watch", "delete")
    }
    train = grants[full("training")]
    assert {g for (_, g, _, _) in train} == {"pipelines.kubeflow.org"}
    assert {ns for (ns, *_) in train} == {kfp_ns}
    assert (kfp_ns, "pipelines.kubeflow.org", "runs", "create") in train
    # Wildcards would defeat the point.
    assert not [t for g in grants.values() for t in g if "*" in t]
    # Only deployment's pod carries an API token.
    for name, spec in pod_specs(docs).items():
        assert spec["automountServiceAccountToken"] is (name == full("deployment")), name
    for name, sa in by_kind(docs, "ServiceAccount").items():
        assert sa["automountServiceAccountToken"] is (name == full("deployment")), name


def egress_ports(policy: dict) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}


def test_network_policies_default_deny_and_graph_edges(rendered):
    docs = rendered["defaults"]
    nps = by_kind(docs, "NetworkPolicy")
    deny = nps["gristmill-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    for name, dep in by_kind(docs, "Deployment").items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert deny["podSelector"]["matchLabels"].items() <= labels.items(), name
        policy = nps[name]["spec"]
        assert policy["podSelector"]["matchLabels"].items() <= labels.items()
        svc = name.removeprefix("gristmill-")
        port, metrics = CONTRACT[svc]
        ingress_ports = {p["port"] for r in policy["ingress"] for p in r["ports"]}
        assert ingress_ports == {port, metrics}
        ports = egress_ports(nps[name])
        assert {53, 9092, 5432} <= ports
        # gRPC egress only to the services this one calls (the rest of the graph is Kafka).
        callees = {CONTRACT[c][0] for c in GRPC_CALLS.get(svc, [])}
        assert {p for p, _ in CONTRACT.values()} & ports == callees, name
        assert (8888 in ports) == (svc == "training"), name  # only training reaches KFP
        assert (6443 in ports) == (svc == "deployment"), name  # only deployment reaches the API
    kfp_rule = [r for r in nps[full("training")]["spec"]["egress"] if r["ports"][0]["port"] == 8888][0]
    assert kfp_rule["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kubeflow"
    }
    kafka_rule = [r for r in nps[full("ingestion")]["spec"]["egress"] if r["ports"][0]["port"] == 9092][0]
    assert kafka_rule["to"][0]["podSelector"]["matchLabels"]["strimzi.io/cluster"] == "gristmill"


def test_strimzi_topics_cover_events_and_dead_letters(rendered):
    docs = rendered["defaults"]
    topics = {d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic"}
    assert topics == EVENT_TOPICS | DLQ_TOPICS
    for d in docs:
        if d["apiVersion"].startswith("kafka.strimzi.io/") and d["kind"] != "Kafka":
            assert d["metadata"]["labels"]["strimzi.io/cluster"] == "gristmill"
    assert set(by_kind(docs, "Kafka")) == {"gristmill"}


def test_pdb_on_hpa_off_by_default(rendered):
    docs = rendered["defaults"]
    assert set(by_kind(docs, "PodDisruptionBudget")) == {full(n) for n in CONTRACT}
    assert not by_kind(docs, "HorizontalPodAutoscaler")
    assert all(d["spec"]["replicas"] == 1 for d in by_kind(docs, "Deployment").values())
    assert set(by_kind(docs, "PersistentVolumeClaim")) == {"gristmill-artifacts"}


# ---------------------------------------------------------------- other scenarios


GPU_KEYS = ("nvidia.com/gpu",)


def gpu_bits(spec: dict) -> tuple:
    (c,) = spec["containers"]
    return (
        spec.get("nodeSelector"),
        spec.get("tolerations"),
        {k: v for k, v in c["resources"].get("limits", {}).items() if k in GPU_KEYS},
    )


def test_gpu_scenario_touches_training_only(rendered):
    for name, spec in pod_specs(rendered["gpu"]).items():
        node_selector, tolerations, gpu = gpu_bits(spec)
        if name == full("training"):
            assert node_selector == {"nvidia.com/gpu.present": "true"}
            assert tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
            assert gpu == {"nvidia.com/gpu": "1"}
            # The GPU limit is added to, not instead of, the CPU/memory limits.
            assert spec["containers"][0]["resources"]["limits"]["memory"] == "4Gi"
        else:
            assert (node_selector, tolerations, gpu) == (None, None, {}), name
    for spec in pod_specs(rendered["defaults"]).values():
        assert gpu_bits(spec) == (None, None, {})


def test_external_kafka_without_strimzi(rendered):
    docs = rendered["external-kafka"]
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    for name in CONTRACT:
        data = by_kind(docs, "ConfigMap")[full(name)]["data"]
        assert data["GRISTMILL_KAFKA_BOOTSTRAP"] == "kafka-broker.kafka.svc.cluster.local:9092"
        kafka_rule = [
            r
            for r in by_kind(docs, "NetworkPolicy")[full(name)]["spec"]["egress"]
            if r["ports"][0]["port"] == 9092
        ][0]
        assert kafka_rule["to"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}
        ]
    runtime = by_kind(docs, "ServingRuntime")["gristmill-predictor"]
    env = {e["name"]: e.get("value") for e in runtime["spec"]["containers"][0]["env"]}
    assert env["GRISTMILL_KAFKA_BOOTSTRAP"] == "kafka-broker.kafka.svc.cluster.local:9092"


def test_network_policies_can_be_turned_off(rendered):
    assert not by_kind(rendered["no-netpol"], "NetworkPolicy")
    assert len(by_kind(rendered["defaults"], "NetworkPolicy")) == len(CONTRACT) + 2  # + deny + predictor


def test_s3_artifacts_multi_user_kfp_and_autoscaling(rendered):
    docs = rendered["s3"]
    assert not by_kind(docs, "PersistentVolumeClaim")
    assert not by_kind(docs, "Secret")  # both Secrets come from existingSecret
    for name in CONTRACT:
        dep = by_kind(docs, "Deployment")[full(name)]
        spec = dep["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        data = by_kind(docs, "ConfigMap")[full(name)]["data"]
        assert data["GRISTMILL_ARTIFACT_URI"] == "s3://gristmill-artifacts/prod"
        assert data["GRISTMILL_S3_ENDPOINT_URL"] == "http://minio.minio.svc.cluster.local:9000"
        env = {e["name"]: e for e in c["env"]}
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "gristmill-s3-credentials", "key": key}
        assert (
            env[f"GRISTMILL_{name.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
            == "gristmill-database-urls"
        )
        assert "artifacts" not in {v["name"] for v in spec["volumes"]}
        assert "replicas" not in dep["spec"]  # the HPA owns it
        hpa = by_kind(docs, "HorizontalPodAutoscaler")[full(name)]["spec"]
        assert (
            hpa["scaleTargetRef"]["name"] == full(name)
            and hpa["maxReplicas"] == 4
            and hpa["minReplicas"] == 2
        )
        s3_rule = [
            r
            for r in by_kind(docs, "NetworkPolicy")[full(name)]["spec"]["egress"]
            if r["ports"][0]["port"] == 9000
        ]
        assert (
            s3_rule
            and s3_rule[0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            == "minio"
        )
        projected = [v for v in spec["volumes"] if "projected" in v]
        if name == "training":
            (token,) = projected
            assert (
                token["projected"]["sources"][0]["serviceAccountToken"]["audience"]
                == "pipelines.kubeflow.org"
            )
            assert env["KF_PIPELINES_SA_TOKEN_PATH"]["value"].startswith(
                "/var/run/secrets/kubeflow/pipelines/"
            )
        else:
            assert not projected, name
    (runtime,) = [d for d in docs if d["kind"] == "ClusterServingRuntime"]
    assert "namespace" not in runtime["metadata"]
    (isvc,) = [d for d in docs if d["kind"] == "InferenceService"]
    assert isvc["metadata"]["namespace"] == "models"
    assert isvc["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    args = isvc["spec"]["predictor"]["model"]["args"]
    assert args[0].startswith("--card_uri=s3://") and args[1].startswith("--card_sha256=")


def test_release_name_prefixes_every_object(tools):
    docs = load_docs(helm_template(tools, release="prod").stdout)
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {f"prod-gristmill-{n}" for n in CONTRACT}
    for d in deployments.values():
        assert d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "prod"
        assert component(d) in CONTRACT


def test_values_keys_are_documented():
    """Top-level keys, their children, and the per-service keys (on ingestion, the model for the
    others) carry a comment. Kubernetes objects copied as-is (security contexts) are exempt."""
    exempt_parents = {"podSecurityContext", "containerSecurityContext", "services"}
    path: list[str] = []
    missing = []
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        path = path[:depth] + [m.group(2)]
        checked = depth == 0 or (depth == 1 and path[0] not in exempt_parents)
        checked = checked or (depth == 2 and path[:2] == ["services", "ingestion"])
        if checked and not lines[i - 1].lstrip().startswith("#"):
            missing.append(".".join(path))
    assert missing == []
    # And the schema knows every top-level key (additionalProperties: false catches typos).
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"]) and schema["additionalProperties"] is False
