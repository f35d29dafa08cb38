"""Proto <-> domain for deployment."""

from __future__ import annotations

from gristmill.deployment.v1 import deployment_pb2 as pb
from services.common.artifacts import Artifact
from services.common.convert import ts
from services.deployment.domain import EndpointView, Policy
from services.deployment.models import DeploymentRow

STATES = {"PENDING": pb.DEPLOYMENT_STATE_PENDING, "READY": pb.DEPLOYMENT_STATE_READY,
          "FAILED": pb.DEPLOYMENT_STATE_FAILED, "ROLLED_BACK": pb.DEPLOYMENT_STATE_ROLLED_BACK,
          "SUPERSEDED": pb.DEPLOYMENT_STATE_SUPERSEDED}


def deployment_to_proto(row: DeploymentRow, endpoints: list[EndpointView]) -> pb.Deployment:
    return pb.Deployment(
        deployment_id=row.deployment_id, project=row.project, model_name=row.model_name,
        model_version_id=row.model_version_id, previous_model_version_id=row.previous_model_version_id,
        canary_percent=row.traffic_percent if row.state == "READY" else row.canary_percent,
        state=STATES.get(row.state, pb.DEPLOYMENT_STATE_UNSPECIFIED), rest_endpoint=row.rest_endpoint,
        grpc_endpoint=row.grpc_endpoint, message=row.message, created_at=ts(row.created_at),
        endpoints=[pb.Endpoint(deployment_id=e.deployment_id, model_version_id=e.model_version_id,
                               rest_endpoint=e.rest, grpc_endpoint=e.grpc, traffic_percent=e.traffic_percent)
                   for e in endpoints],
        previous_deployment_id=row.previous_deployment_id, evaluation_id=row.evaluation_id or "", mode=row.mode,
        updated_at=ts(row.updated_at),
    )


def policy_to_proto(p: Policy) -> pb.RolloutPolicy:
    return pb.RolloutPolicy(project=p.project, model_name=p.model_name, canary_percent=p.canary_percent,
                            manual_approval=p.manual_approval, ready_timeout_seconds=p.ready_timeout,
                            updated_at=ts(p.updated_at) if p.updated_at is not None else None)


def card_from_proto(ref) -> Artifact | None:
    if not ref.uri and not ref.sha256:
        return None
    return Artifact(ref.uri, ref.sha256, ref.size_bytes, ref.media_type)
