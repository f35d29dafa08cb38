"""Proto <-> domain for monitoring."""

from __future__ import annotations

from gristmill.common.v1 import common_pb2
from gristmill.monitoring.v1 import monitoring_pb2 as pb
from services.common.artifacts import Artifact
from services.common.convert import artifact_ref, ts
from services.monitoring.domain import TASK_NAMES, Performance, ReferenceInfo, Rules
from services.monitoring.models import DriftReportRow

TASKS_BY_NAME = {v: k for k, v in TASK_NAMES.items()}


def report_to_proto(r: DriftReportRow) -> pb.DriftReport:
    html = common_pb2.ArtifactRef(uri=r.html_uri, sha256=r.html_sha256, size_bytes=r.html_size,
                                  media_type="text/html") if r.html_uri else None
    return pb.DriftReport(
        report_id=r.report_id, project=r.project, model_name=r.model_name, model_version_id=r.model_version_id,
        columns=[pb.ColumnDrift(column=c["column"], test=c["test"], score=c["score"], threshold=c["threshold"],
                                drifted=c["drifted"], drift_when=c.get("drift_when", "")) for c in r.columns],
        drift_share=r.drift_share, dataset_drift=r.dataset_drift, window_rows=r.window_rows, html=html,
        created_at=ts(r.created_at), feature_set_id=r.feature_set_id, reference_rows=r.reference_rows,
        reduction=r.reduction, seconds=r.seconds, drift_share_threshold=r.drift_share_threshold)


def performance_to_proto(p: Performance) -> pb.Performance:
    return pb.Performance(
        model_name=p.model_name, model_version_id=p.model_version_id, requests=p.requests, labeled=p.labeled,
        accuracy=p.accuracy, mae=p.mae, latency_p50_ms=p.latency_p50_ms, latency_p99_ms=p.latency_p99_ms,
        throughput_rps=p.throughput_rps, cpu_percent=p.cpu_percent, memory_mb=p.memory_mb, task=p.task,
        resources_known=p.resources_known)


def rules_to_proto(r: Rules) -> pb.AlertRules:
    return pb.AlertRules(project=r.project, model_name=r.model_name, max_drift_share=r.max_drift_share,
                         min_accuracy=r.min_accuracy, max_mae=r.max_mae, window_size=r.window_size,
                         window_seconds=r.window_seconds, retrain_on_drift=r.retrain_on_drift)


def rules_from_proto(r: pb.AlertRules) -> Rules:
    return Rules(r.project, r.model_name, r.max_drift_share, r.min_accuracy, r.max_mae, r.window_size,
                 r.window_seconds, r.retrain_on_drift)


def reference_to_proto(r: ReferenceInfo) -> pb.Reference:
    return pb.Reference(feature_set_id=r.feature_set_id, rows=r.rows, columns=r.columns, reduction=r.reduction,
                        sample=artifact_ref(r.sample))


def artifact_from_ref(ref: common_pb2.ArtifactRef) -> Artifact:
    return Artifact(ref.uri, ref.sha256, ref.size_bytes, ref.media_type)
