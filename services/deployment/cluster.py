"""Cluster mode: one KServe InferenceService per model name, driven through CustomObjectsApi.

The manifest is built with the kserve SDK's models (`V1beta1InferenceService`, predictor with the
Gristmill serving image as `kserve-container`) and turned into a camelCase dict with
`ApiClient().sanitize_for_serialization`. A rollout creates the InferenceService or merge-patches it
with the new version's predictor and, for a canary, `canaryTrafficPercent` (KServe keeps the last
rolled-out revision for the rest of the traffic). Promote removes `canaryTrafficPercent`; a rollback
patches the previous version's predictor back. Readiness: the `Ready` condition is True for the
generation we wrote.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient

from services.deployment.config import DeploymentSettings
from services.deployment.local import Endpoints, RolloutFailed, Target

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
HTTP_PORT, GRPC_PORT = 8080, 8081


def build_manifest(t: Target, settings: DeploymentSettings, canary_percent: int | None = None) -> dict[str, Any]:
    """The InferenceService for `t` as a kubectl-ready dict (camelCase, no nulls)."""
    from kserve import V1beta1InferenceService, V1beta1InferenceServiceSpec, V1beta1PredictorSpec, constants

    env = [k8s.V1EnvVar(name="GRISTMILL_ARTIFACT_URI", value=settings.artifact_uri),
           k8s.V1EnvVar(name="GRISTMILL_KAFKA_BOOTSTRAP", value=settings.kafka_bootstrap),
           k8s.V1EnvVar(name="GRISTMILL_SERVING_PROJECT", value=t.project),
           k8s.V1EnvVar(name="GRISTMILL_SERVING_LOG_SAMPLE_RATE", value=str(settings.serving_log_sample_rate))]
    if settings.s3_endpoint_url:
        env.append(k8s.V1EnvVar(name="GRISTMILL_S3_ENDPOINT_URL", value=settings.s3_endpoint_url))
    for pair in filter(None, (p.strip() for p in settings.storage_env.split(","))):
        name, _, value = pair.partition("=")
        env.append(k8s.V1EnvVar(name=name.strip(), value=value.strip()))
    container = k8s.V1Container(
        name="kserve-container", image=settings.serving_image,
        command=["python", "-m", "services.serving"],
        args=["--model_name", t.model_name, "--card_uri", t.card_uri, "--card_sha256", t.card_sha256,
              "--http_port", str(HTTP_PORT), "--grpc_port", str(GRPC_PORT), "--enable_latency_logging", "false"],
        env=env, ports=[k8s.V1ContainerPort(container_port=HTTP_PORT, name="http1", protocol="TCP")],
        resources=k8s.V1ResourceRequirements(requests={"cpu": "100m", "memory": "512Mi"},
                                             limits={"cpu": "1", "memory": "2Gi"}),
        security_context=k8s.V1SecurityContext(allow_privilege_escalation=False, run_as_non_root=True,
                                               read_only_root_filesystem=False,
                                               capabilities=k8s.V1Capabilities(drop=["ALL"])),
    )
    predictor = V1beta1PredictorSpec(min_replicas=1, containers=[container],
                                     canary_traffic_percent=canary_percent,
                                     service_account_name=settings.service_account or None)
    isvc = V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1, kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=k8s.V1ObjectMeta(
            name=t.model_name, namespace=settings.namespace,
            labels={"app.kubernetes.io/part-of": "gristmill", "app.kubernetes.io/managed-by": "gristmill-deployment",
                    "gristmill.io/model-version": t.model_version_id[:63]},
            annotations={"gristmill.io/deployment-id": t.deployment_id, "gristmill.io/project": t.project,
                         "serving.kserve.io/enable-prometheus-scraping": "true"}),
        spec=V1beta1InferenceServiceSpec(predictor=predictor),
    )
    return ApiClient().sanitize_for_serialization(isvc)


def endpoints_of(obj: dict, name: str, namespace: str) -> Endpoints:
    status = obj.get("status") or {}
    url = status.get("url") or f"http://{name}.{namespace}.svc.cluster.local"
    host = f"{name}-predictor.{namespace}.svc.cluster.local"
    return Endpoints(rest=url, grpc=f"{host}:{GRPC_PORT}")


def is_ready(obj: dict, generation: int | None) -> bool:
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return False
    return any(c.get("type") == "Ready" and str(c.get("status")) == "True" for c in status.get("conditions") or [])


class ClusterBackend:
    mode = "cluster"

    def __init__(self, settings: DeploymentSettings, api: Any | None = None, poll: float = 2.0) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        self._api = api
        self.poll = poll

    @property
    def api(self):
        if self._api is None:
            from kubernetes import config as kconfig

            try:
                kconfig.load_incluster_config()
            except kconfig.ConfigException:
                kconfig.load_kube_config()
            self._api = k8s.CustomObjectsApi()
        return self._api

    # --- API calls -------------------------------------------------------------------------------
    def _get(self, name: str) -> dict | None:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def apply(self, t: Target, canary_percent: int | None) -> dict:
        """Create the InferenceService, or merge-patch it to `t` (removing any canary when None)."""
        body = build_manifest(t, self.settings, canary_percent)
        if self._get(t.model_name) is None:
            return self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
        if canary_percent is None:
            body["spec"]["predictor"]["canaryTrafficPercent"] = None  # merge patch: delete the field
        return self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, t.model_name, body)

    def wait_ready(self, name: str, generation: int | None, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            obj = self._get(name)
            if obj is not None and is_ready(obj, generation):
                return obj
            if time.monotonic() >= deadline:
                conds = (obj or {}).get("status", {}).get("conditions") or []
                why = "; ".join(f"{c.get('type')}={c.get('status')} {c.get('message', '')}".strip() for c in conds)
                raise RolloutFailed(f"InferenceService {name} was not ready within {timeout:g} s ({why or 'no status'})")
            time.sleep(self.poll)

    # --- backend interface -----------------------------------------------------------------------
    def rollout(self, t: Target, stable: Target | None, canary_percent: int, timeout: float) -> Endpoints:
        canary = canary_percent if stable is not None and 0 < canary_percent < 100 else None
        try:
            written = self.apply(t, canary)
            obj = self.wait_ready(t.model_name, (written or {}).get("metadata", {}).get("generation"), timeout)
        except RolloutFailed:
            self._undo(t, stable)
            raise
        except k8s.ApiException as exc:
            self._undo(t, stable)
            raise RolloutFailed(f"kube-apiserver refused the InferenceService: {exc.status} {exc.reason}") from exc
        return endpoints_of(obj, t.model_name, self.namespace)

    def _undo(self, t: Target, stable: Target | None) -> None:
        try:
            if stable is not None:
                self.apply(stable, None)
            else:
                self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, t.model_name)
        except Exception:  # noqa: BLE001 - the rollout has failed already; report that one
            log.exception("could not undo the failed rollout of %s", t.model_name)

    def promote(self, t: Target, stable: Target | None) -> None:
        body = {"metadata": {"annotations": {"gristmill.io/deployment-id": t.deployment_id}},
                "spec": {"predictor": {"canaryTrafficPercent": None}}}
        self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, t.model_name, body)

    def restore(self, stable: Target, retired: Target, timeout: float) -> Endpoints:
        written = self.apply(stable, None)
        obj = self.wait_ready(stable.model_name, (written or {}).get("metadata", {}).get("generation"), timeout)
        return endpoints_of(obj, stable.model_name, self.namespace)

    def retire(self, t: Target) -> None:
        """Nothing to stop: the InferenceService now runs another version."""

    def alive(self, t: Target) -> bool:
        return True

    def close(self) -> None:
        """InferenceServices outlive the deployment service."""
