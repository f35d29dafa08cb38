"""TrainingService: validate, convert, delegate."""

from __future__ import annotations

from gristmill.training.v1 import training_pb2 as pb
from gristmill.training.v1 import training_pb2_grpc as pb_grpc
from services.common.errors import require
from services.training import convert
from services.training.domain import TrainingDomain


class TrainingServicer(pb_grpc.TrainingServiceServicer):
    def __init__(self, domain: TrainingDomain) -> None:
        self.domain = domain

    def SubmitRun(self, request: pb.SubmitRunRequest, context) -> pb.Run:
        require(request.HasField("spec"), "spec is required")
        run = self.domain.submit(convert.spec_from_proto(request.spec), trigger=request.trigger)
        return convert.run_to_proto(run)

    def GetRun(self, request: pb.GetRunRequest, context) -> pb.Run:
        return convert.run_to_proto(self.domain.get_run(request.run_id))

    def ListRuns(self, request: pb.ListRunsRequest, context) -> pb.ListRunsResponse:
        rows, token = self.domain.list_runs(request.project, request.page_size, request.page_token)
        return pb.ListRunsResponse(runs=[convert.run_to_proto(r) for r in rows], next_page_token=token)

    def CancelRun(self, request: pb.CancelRunRequest, context) -> pb.Run:
        return convert.run_to_proto(self.domain.cancel(request.run_id))

    def StreamRunMetrics(self, request: pb.StreamRunMetricsRequest, context):
        for rec in self.domain.stream_metrics(request.run_id, alive=context.is_active):
            yield convert.epoch_to_proto(rec)

    def GetModelVersion(self, request: pb.GetModelVersionRequest, context) -> pb.ModelVersion:
        return convert.model_version_to_proto(self.domain.get_model_version(request.model_version_id))

    def ListModelVersions(self, request: pb.ListModelVersionsRequest, context) -> pb.ListModelVersionsResponse:
        rows, token = self.domain.list_model_versions(request.project, request.page_size, request.page_token)
        return pb.ListModelVersionsResponse(model_versions=[convert.model_version_to_proto(r) for r in rows],
                                            next_page_token=token)

    def PutTrainingPolicy(self, request: pb.PutTrainingPolicyRequest, context) -> pb.TrainingPolicy:
        require(request.HasField("policy"), "policy is required")
        return convert.policy_to_proto(self.domain.put_policy(convert.policy_from_proto(request.policy)))

    def GetTrainingPolicy(self, request: pb.GetTrainingPolicyRequest, context) -> pb.TrainingPolicy:
        return convert.policy_to_proto(self.domain.get_policy(request.project))
