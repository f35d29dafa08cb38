"""Server-side dry-run against a real kube-apiserver (storage: kine on SQLite), when one is built.

`GRISTMILL_DEPLOY_APISERVER=1 scripts/deploy-tools.sh` builds kube-apiserver and kine (tens of minutes
cold); without those binaries these tests skip. The API server runs only on 127.0.0.1 with no
controllers, so nothing is scheduled: it checks that every object is accepted as the API server
itself would (schemas of built-in kinds and CRDs, defaulting, PodSecurity "restricted" admission)
and, with real RBAC objects applied, what each service account may do.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .conftest import CRDS, NAMESPACE, by_kind

pytestmark = pytest.mark.timeout(3000)

BIN = Path(os.environ.get("GRISTMILL_CACHE", Path.home() / ".cache" / "gristmill")) / "bin"
APISERVER, KINE = BIN / "kube-apiserver", BIN / "kine"
NAMESPACES = (NAMESPACE, "models", "ml-team", "gristmill-dev")

# Strimzi CRDs are not available offline: minimal ones (any spec accepted) let the API server store
# the Strimzi objects; their fields are checked in test_chart.py.
STRIMZI_KINDS = {"Kafka": "kafkas", "KafkaNodePool": "kafkanodepools", "KafkaTopic": "kafkatopics"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def minimal_crd(kind: str, plural: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kafka.strimzi.io"},
        "spec": {
            "group": "kafka.strimzi.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1beta2",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def cluster(tools, tmp_path_factory):
    if not (APISERVER.exists() and KINE.exists()):
        pytest.skip("kube-apiserver/kine not built (GRISTMILL_DEPLOY_APISERVER=1 scripts/deploy-tools.sh)")
    d = tmp_path_factory.mktemp("apiserver")
    etcd_port, api_port = free_port(), free_port()
    procs = []
    log = open(d / "log.txt", "w")
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(KINE),
                    "--listen-address",
                    f"127.0.0.1:{etcd_port}",
                    "--metrics-bind-address",
                    "0",
                    "--endpoint",
                    f"sqlite://{d}/state.db?_journal=WAL&cache=shared&_busy_timeout=30000&_txlock=immediate",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        subprocess.run(["openssl", "genrsa", "-out", d / "sa.key", "2048"], check=True, capture_output=True)
        subprocess.run(
            ["openssl", "rsa", "-in", d / "sa.key", "-pubout", "-out", d / "sa.pub"],
            check=True,
            capture_output=True,
        )
        token = secrets.token_hex(16)
        (d / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
        procs.append(
            subprocess.Popen(
                [
                    str(APISERVER),
                    f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={api_port}",
                    f"--cert-dir={d}/certs",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    f"--service-account-issuer=https://127.0.0.1:{api_port}/",
                    f"--service-account-key-file={d}/sa.pub",
                    f"--service-account-signing-key-file={d}/sa.key",
                    f"--token-auth-file={d}/tokens.csv",
                    "--authorization-mode=RBAC",
                    "--disable-admission-plugins=ServiceAccount",
                    "--allow-privileged=false",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        kubeconfig = d / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "t",
                    "clusters": [
                        {
                            "name": "t",
                            "cluster": {
                                "server": f"https://127.0.0.1:{api_port}",
                                "insecure-skip-tls-verify": True,
                            },
                        }
                    ],
                    "users": [{"name": "t", "user": {"token": token}}],
                    "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
                }
            )
        )

        def kubectl(*args, input=None, check=True):
            return tools.run(tools.kubectl, "--kubeconfig", str(kubeconfig), *args, input=input, check=check)

        deadline = time.monotonic() + 120
        while kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
            assert time.monotonic() < deadline, (d / "log.txt").read_text()[-3000:]
            assert all(p.poll() is None for p in procs), (d / "log.txt").read_text()[-3000:]
            time.sleep(0.5)
        for ns in NAMESPACES:
            kubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump(
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {
                            "name": ns,
                            "labels": {
                                # Admission must accept the pods under the "restricted" Pod Security Standard.
                                "pod-security.kubernetes.io/enforce": "restricted",
                                "pod-security.kubernetes.io/warn": "restricted",
                            },
                        },
                    }
                ),
            )
        kubectl("apply", "--server-side=true", "--force-conflicts", "-f", str(CRDS))
        kubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump_all([minimal_crd(k, p) for k, p in STRIMZI_KINDS.items()]),
        )
        # Right after creation a CRD has no conditions yet, which `kubectl wait` reports as an error.
        deadline = time.monotonic() + 90
        while (
            kubectl(
                "wait", "--for=condition=Established", "--timeout=10s", "crd", "--all", check=False
            ).returncode
            != 0
        ):
            assert time.monotonic() < deadline, "CRDs not established"
            time.sleep(1)
        yield kubectl
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


CLUSTER_SCOPED = {
    "ClusterServingRuntime",
    "ClusterRole",
    "ClusterRoleBinding",
    "Namespace",
    "CustomResourceDefinition",
}


def with_namespace(docs: list[dict]) -> str:
    """Set the release namespace where a template leaves it out, as `helm install -n` does."""
    out = []
    for d in docs:
        d = yaml.safe_load(yaml.safe_dump(d))
        if d["kind"] not in CLUSTER_SCOPED:
            d["metadata"].setdefault("namespace", NAMESPACE)
        out.append(d)
    return yaml.safe_dump_all(out)


def dry_run(kubectl, manifest: str):
    proc = kubectl("apply", "--server-side=true", "--dry-run=server", "-f", "-", input=manifest, check=False)
    assert proc.returncode == 0, proc.stderr
    # PodSecurity "warn" reports violations as warnings even where nothing is rejected.
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("scenario", ["defaults", "gpu", "external-kafka", "no-netpol", "s3"])
def test_chart_is_accepted_by_the_api_server(cluster, rendered, scenario):
    docs = rendered[scenario]
    proc = dry_run(cluster, with_namespace(docs))
    assert proc.stdout.count("serverside-applied (server dry run)") == len(docs)


@pytest.mark.parametrize("overlay", ["dev", "gpu"])
def test_overlay_is_accepted_by_the_api_server(cluster, kustomized, overlay):
    docs = kustomized[overlay]
    proc = dry_run(cluster, yaml.safe_dump_all(docs))
    assert proc.stdout.count("serverside-applied (server dry run)") == len(docs)


def test_pod_security_admission_would_catch_a_root_pod(cluster, rendered):
    dep = next(iter(by_kind(rendered["defaults"], "Deployment").values()))
    dep = yaml.safe_load(yaml.safe_dump(dep))
    dep["metadata"]["namespace"] = NAMESPACE
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
    proc = cluster("apply", "--server-side=true", "--dry-run=server", "-f", "-", input=yaml.safe_dump(dep))
    assert "would violate PodSecurity" in proc.stderr


def test_service_account_permissions(cluster, rendered):
    """Apply the RBAC objects for real, then ask the authorizer what each account may do."""
    docs = [d for d in rendered["s3"] if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    cluster("apply", "-f", "-", input=with_namespace(docs))

    def can(sa: str, verb: str, resource: str, ns: str) -> bool:
        """A SubjectAccessReview, as KFP's API server sends one; works for resources with no CRD."""
        plural, _, group = resource.partition(".")
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{NAMESPACE}:gristmill-{sa}",
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{NAMESPACE}",
                    "system:authenticated",
                ],
                "resourceAttributes": {"namespace": ns, "verb": verb, "group": group, "resource": plural},
            },
        }
        proc = cluster("create", "-o", "json", "-f", "-", input=json.dumps(review))
        return json.loads(proc.stdout)["status"].get("allowed", False)

    isvc = "inferenceservices.serving.kserve.io"
    for verb in ("create", "patch", "get", "list", "watch", "delete"):
        assert can("deployment", verb, isvc, "models")
    assert not can("deployment", "update", isvc, "models")
    assert not can("deployment", "create", isvc, NAMESPACE)  # only the serving namespace
    assert not can("deployment", "get", "secrets", "models")
    assert can("training", "create", "runs.pipelines.kubeflow.org", "ml-team")
    assert not can("training", "create", "runs.pipelines.kubeflow.org", "models")
    assert not can("training", "create", "workflows.argoproj.io", "ml-team")
    for sa in ("ingestion", "labeling", "preprocessing", "training", "evaluation", "monitoring"):
        assert not can(sa, "create", isvc, "models"), sa
        assert not can(sa, "list", "pods", NAMESPACE), sa
