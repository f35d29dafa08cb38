"""EvaluationService: validate, convert, delegate."""

from __future__ import annotations

from gristmill.evaluation.v1 import evaluation_pb2 as pb
from gristmill.evaluation.v1 import evaluation_pb2_grpc as pb_grpc
from services.common.errors import require
from services.evaluation import convert
from services.evaluation.domain import EvaluationDomain


class EvaluationServicer(pb_grpc.EvaluationServiceServicer):
    def __init__(self, domain: EvaluationDomain) -> None:
        self.domain = domain

    def Evaluate(self, request: pb.EvaluateRequest, context) -> pb.Evaluation:
        return convert.evaluation_to_proto(self.domain.evaluate(request.project.strip(),
                                                                request.model_version_id.strip(),
                                                                request.correlation_id))

    def GetEvaluation(self, request: pb.GetEvaluationRequest, context) -> pb.Evaluation:
        return convert.evaluation_to_proto(self.domain.get_evaluation(request.evaluation_id))

    def ListEvaluations(self, request: pb.ListEvaluationsRequest, context) -> pb.ListEvaluationsResponse:
        rows, token = self.domain.list_evaluations(request.project, request.page_size, request.page_token)
        return pb.ListEvaluationsResponse(evaluations=[convert.evaluation_to_proto(r) for r in rows],
                                          next_page_token=token)

    def StartStudy(self, request: pb.StartStudyRequest, context) -> pb.Study:
        return convert.study_to_proto(*self.domain.start_study(convert.study_request_from_proto(request)))

    def GetStudy(self, request: pb.GetStudyRequest, context) -> pb.Study:
        return convert.study_to_proto(*self.domain.get_study(request.study_id))

    def PutGatePolicy(self, request: pb.PutGatePolicyRequest, context) -> pb.GatePolicy:
        require(request.HasField("policy"), "policy is required")
        return convert.policy_to_proto(self.domain.put_policy(convert.policy_from_proto(request.policy)))

    def GetGatePolicy(self, request: pb.GetGatePolicyRequest, context) -> pb.GatePolicy:
        return convert.policy_to_proto(self.domain.get_policy(request.project))
