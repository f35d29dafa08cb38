"""gRPC servicer: validate, convert, delegate."""

from __future__ import annotations

from gristmill.monitoring.v1 import monitoring_pb2 as pb
from gristmill.monitoring.v1 import monitoring_pb2_grpc as pb_grpc
from services.common.errors import InvalidArgument
from services.monitoring import convert
from services.monitoring.domain import TASK_NAMES, Monitoring


class MonitoringServicer(pb_grpc.MonitoringServiceServicer):
    def __init__(self, domain: Monitoring) -> None:
        self.d = domain

    def GetDriftSummary(self, request, context):
        return convert.report_to_proto(self.d.drift_summary(request.model_name))

    def ListDriftReports(self, request, context):
        rows, token = self.d.list_reports(request.model_name, request.page_size, request.page_token)
        return pb.ListDriftReportsResponse(reports=[convert.report_to_proto(r) for r in rows], next_page_token=token)

    def SubmitFeedback(self, request, context):
        return pb.SubmitFeedbackResponse(joined=self.d.submit_feedback(request.request_id, request.ground_truth))

    def GetPerformance(self, request, context):
        return convert.performance_to_proto(self.d.performance(request.model_name, request.model_version_id))

    def PutAlertRules(self, request, context):
        if not request.HasField("rules"):
            raise InvalidArgument("rules is required")
        return convert.rules_to_proto(self.d.put_rules(convert.rules_from_proto(request.rules)))

    def GetAlertRules(self, request, context):
        return convert.rules_to_proto(self.d.get_rules(request.project, request.model_name))

    def RunDriftReport(self, request, context):
        return convert.report_to_proto(self.d.run_drift_report(request.model_name, request.max_rows))

    def SetReference(self, request, context):
        return convert.reference_to_proto(self.d.set_reference(
            request.feature_set_id, convert.artifact_from_ref(request.train), request.model_version_id,
            request.project, TASK_NAMES.get(request.task, "")))
