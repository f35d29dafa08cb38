"""LabelingService over gRPC: validate the request's shape, convert, delegate to the domain."""

from __future__ import annotations

from gristmill.labeling.v1 import labeling_pb2 as pb
from gristmill.labeling.v1 import labeling_pb2_grpc as pb_grpc
from services.common.errors import require
from services.labeling import convert
from services.labeling.domain import LabelingDomain


class LabelingServicer(pb_grpc.LabelingServiceServicer):
    def __init__(self, domain: LabelingDomain) -> None:
        self.domain = domain

    def PutPolicy(self, request: pb.PutPolicyRequest, context) -> pb.LabelingPolicy:
        require(request.HasField("policy"), "policy is required")
        return convert.policy_to_proto(self.domain.put_policy(convert.policy_from_proto(request.policy)))

    def GetPolicy(self, request: pb.GetPolicyRequest, context) -> pb.LabelingPolicy:
        return convert.policy_to_proto(self.domain.get_policy(request.project))

    def CreateJob(self, request: pb.CreateJobRequest, context) -> pb.Job:
        require(request.HasField("schema"), "schema is required")
        return convert.job_to_proto(self.domain.create_job(convert.job_request_from_proto(request)))

    def GetJob(self, request: pb.GetJobRequest, context) -> pb.Job:
        return convert.job_to_proto(self.domain.get_job(request.job_id))

    def ListJobs(self, request: pb.ListJobsRequest, context) -> pb.ListJobsResponse:
        jobs, token = self.domain.list_jobs(request.project, request.page_size, request.page_token)
        return pb.ListJobsResponse(jobs=[convert.job_to_proto(j) for j in jobs], next_page_token=token)

    def LeaseTasks(self, request: pb.LeaseTasksRequest, context) -> pb.LeaseTasksResponse:
        tasks = self.domain.lease_tasks(request.job_id, request.annotator_id, request.max_tasks)
        return pb.LeaseTasksResponse(tasks=[convert.task_to_proto(t) for t in tasks])

    def SubmitAnnotation(self, request: pb.SubmitAnnotationRequest, context) -> pb.SubmitAnnotationResponse:
        result = self.domain.submit_annotation(request.task_id, request.annotator_id,
                                               convert.label_from_proto(request.label))
        return pb.SubmitAnnotationResponse(job_completed=result.job_completed,
                                           labeled_version_id=result.labeled_version_id)

    def SetPrelabels(self, request: pb.SetPrelabelsRequest, context) -> pb.SetPrelabelsResponse:
        count = self.domain.set_prelabels(request.job_id, [convert.prelabel_from_proto(p) for p in request.prelabels])
        return pb.SetPrelabelsResponse(count=count)

    def GetJobStats(self, request: pb.GetJobStatsRequest, context) -> pb.JobStats:
        return convert.stats_to_proto(self.domain.job_stats(request.job_id))

    def FinalizeJob(self, request: pb.FinalizeJobRequest, context) -> pb.Job:
        return convert.job_to_proto(self.domain.finalize_job(request.job_id, request.force))

    def AddGoldItems(self, request: pb.AddGoldItemsRequest, context) -> pb.AddGoldItemsResponse:
        pairs = [(g.item_index, convert.label_from_proto(g.label)) for g in request.gold]
        return pb.AddGoldItemsResponse(gold_items=self.domain.add_gold(request.job_id, pairs))
