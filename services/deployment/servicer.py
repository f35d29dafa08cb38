"""gRPC servicer: validate, convert, delegate."""

from __future__ import annotations

from gristmill.deployment.v1 import deployment_pb2 as pb
from gristmill.deployment.v1 import deployment_pb2_grpc as pb_grpc
from services.common.errors import InvalidArgument
from services.deployment import convert
from services.deployment.domain import Deployments


class DeploymentServicer(pb_grpc.DeploymentServiceServicer):
    def __init__(self, domain: Deployments) -> None:
        self.d = domain

    def _proto(self, row) -> pb.Deployment:
        return convert.deployment_to_proto(row, self.d.endpoints(row.model_name))

    def Deploy(self, request, context):
        return self._proto(self.d.deploy(
            request.project, request.model_name, request.model_version_id, request.canary_percent,
            request.correlation_id, convert.card_from_proto(request.model_card), request.wait,
            request.ready_timeout_seconds))

    def Promote(self, request, context):
        return self._proto(self.d.promote(request.deployment_id))

    def Rollback(self, request, context):
        return self._proto(self.d.rollback(request.deployment_id))

    def GetDeployment(self, request, context):
        return self._proto(self.d.get(request.deployment_id))

    def ListDeployments(self, request, context):
        rows, token = self.d.list(request.project, request.model_name, request.page_size, request.page_token)
        return pb.ListDeploymentsResponse(deployments=[self._proto(r) for r in rows], next_page_token=token)

    def PutRolloutPolicy(self, request, context):
        if not request.HasField("policy"):
            raise InvalidArgument("policy is required")
        p = request.policy
        return convert.policy_to_proto(self.d.put_policy(p.project, p.model_name, p.canary_percent,
                                                         p.manual_approval, p.ready_timeout_seconds))

    def GetRolloutPolicy(self, request, context):
        return convert.policy_to_proto(self.d.get_policy(request.project))
