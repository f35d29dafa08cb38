"""Proto <-> domain for the labeling service. Shape only: the domain validates."""

from __future__ import annotations

from gristmill.labeling.v1 import labeling_pb2 as pb
from services.common.convert import artifact_from_ref, artifact_ref, ts
from services.labeling.domain import (
    Box,
    ConsensusMethod,
    Job,
    JobRequest,
    JobState,
    JobStats,
    Label,
    LabelingParams,
    LabelKind,
    LabelSchema,
    Policy,
    Prelabel,
    Task,
)

_KINDS = {pb.LABEL_KIND_CLASS: LabelKind.CLASS, pb.LABEL_KIND_NUMERIC: LabelKind.NUMERIC,
          pb.LABEL_KIND_BOUNDING_BOX: LabelKind.BOUNDING_BOX}
_KINDS_PB = {v: k for k, v in _KINDS.items()}
_CONSENSUS = {pb.CONSENSUS_METHOD_UNSPECIFIED: ConsensusMethod.MAJORITY,
              pb.CONSENSUS_METHOD_MAJORITY: ConsensusMethod.MAJORITY,
              pb.CONSENSUS_METHOD_WEIGHTED: ConsensusMethod.WEIGHTED}
_CONSENSUS_PB = {ConsensusMethod.MAJORITY: pb.CONSENSUS_METHOD_MAJORITY,
                 ConsensusMethod.WEIGHTED: pb.CONSENSUS_METHOD_WEIGHTED}
_STATES_PB = {JobState.OPEN: pb.JOB_STATE_OPEN, JobState.COMPLETED: pb.JOB_STATE_COMPLETED}


def schema_from_proto(m: pb.LabelSchema) -> LabelSchema:
    # proto3 doubles have no presence: min = max = 0 means "no range"
    ranged = m.min != 0 or m.max != 0
    return LabelSchema(_KINDS.get(m.kind), tuple(m.classes), m.min if ranged else None, m.max if ranged else None)


def schema_to_proto(s: LabelSchema) -> pb.LabelSchema:
    return pb.LabelSchema(kind=_KINDS_PB.get(s.kind, pb.LABEL_KIND_UNSPECIFIED), classes=list(s.classes),
                          min=s.min or 0.0, max=s.max or 0.0)


def consensus_from_proto(value: int) -> ConsensusMethod:
    # an unknown enum number is the caller's error; the domain reports it as INVALID_ARGUMENT
    return _CONSENSUS.get(value)  # type: ignore[return-value]


def label_from_proto(m: pb.Label) -> Label | None:
    which = m.WhichOneof("value")
    if which == "class_name":
        return m.class_name
    if which == "number":
        return float(m.number)
    if which == "boxes":
        return tuple(Box(b.label, b.x_min, b.y_min, b.x_max, b.y_max) for b in m.boxes.boxes)
    return None


def label_to_proto(label: Label | None) -> pb.Label | None:
    if label is None:
        return None
    if isinstance(label, str):
        return pb.Label(class_name=label)
    if isinstance(label, tuple):
        return pb.Label(boxes=pb.BoundingBoxes(boxes=[
            pb.BoundingBox(label=b.label, x_min=b.x_min, y_min=b.y_min, x_max=b.x_max, y_max=b.y_max) for b in label]))
    return pb.Label(number=float(label))


def _params(schema: pb.LabelSchema, overlap: int, consensus: int, min_coverage: float, min_agreement: float,
            lease_seconds: int, label_column: str, auto_finalize: bool) -> LabelingParams:
    return LabelingParams(schema_from_proto(schema), overlap, consensus_from_proto(consensus), min_coverage,
                          min_agreement, lease_seconds, label_column, auto_finalize)


def job_request_from_proto(m: pb.CreateJobRequest) -> JobRequest:
    params = _params(m.schema, m.overlap, m.consensus, m.min_coverage, m.min_agreement, m.lease_seconds,
                     m.label_column, m.auto_finalize)
    return JobRequest(
        project=m.project, dataset_id=m.dataset_id, version_id=m.version_id, params=params,
        gold=tuple((g.item_index, label_from_proto(g.label)) for g in m.gold), correlation_id=m.correlation_id,
        data=artifact_from_ref(m.data) if m.HasField("data") else None,
        dataset_schema=m.dataset_schema.SerializeToString() if m.HasField("dataset_schema") else b"",
    )


def job_to_proto(j: Job) -> pb.Job:
    p = j.params
    return pb.Job(
        job_id=j.job_id, project=j.project, dataset_id=j.dataset_id, version_id=j.version_id,
        schema=schema_to_proto(p.schema), overlap=p.overlap, consensus=_CONSENSUS_PB[p.consensus],
        min_coverage=p.min_coverage, min_agreement=p.min_agreement, lease_seconds=p.lease_seconds,
        state=_STATES_PB[j.state], num_items=j.num_items, labeled_version_id=j.labeled_version_id,
        created_at=ts(j.created_at), auto_finalize=p.auto_finalize, data=artifact_ref(j.data),
        labeled_data=artifact_ref(j.labeled_data), correlation_id=j.correlation_id,
    )


def task_to_proto(t: Task) -> pb.Task:
    return pb.Task(task_id=t.task_id, item_index=t.item_index, image_png=t.image_png, record_json=t.record_json,
                   suggestion=label_to_proto(t.suggestion), suggestion_confidence=t.suggestion_confidence,
                   lease_expires_at=ts(t.lease_expires_at))


def prelabel_from_proto(m: pb.Prelabel) -> Prelabel:
    return Prelabel(m.item_index, label_from_proto(m.label), m.confidence)  # type: ignore[arg-type]


def stats_to_proto(s: JobStats) -> pb.JobStats:
    return pb.JobStats(
        num_items=s.num_items, annotations=s.annotations, coverage=s.coverage, fleiss_kappa=s.fleiss_kappa,
        cohen=[pb.PairKappa(annotator_a=c.annotator_a, annotator_b=c.annotator_b, cohen_kappa=c.cohen_kappa,
                            shared_items=c.shared_items) for c in s.cohen],
        annotators=[pb.AnnotatorStats(annotator_id=a.annotator_id, annotations=a.annotations,
                                      gold_answered=a.gold_answered, gold_accuracy=a.gold_accuracy)
                    for a in s.annotators],
        flagged_items=s.flagged_items, thresholds_met=s.thresholds_met, covered_items=s.covered_items,
    )


def policy_from_proto(m: pb.LabelingPolicy) -> Policy:
    return Policy(m.project, _params(m.schema, m.overlap, m.consensus, m.min_coverage, m.min_agreement,
                                     m.lease_seconds, m.label_column, m.auto_finalize), m.skip_if_labeled)


def policy_to_proto(p: Policy) -> pb.LabelingPolicy:
    q = p.params
    return pb.LabelingPolicy(
        project=p.project, schema=schema_to_proto(q.schema), overlap=q.overlap, consensus=_CONSENSUS_PB[q.consensus],
        min_coverage=q.min_coverage, min_agreement=q.min_agreement, lease_seconds=q.lease_seconds,
        label_column=q.label_column, skip_if_labeled=p.skip_if_labeled, auto_finalize=q.auto_finalize,
    )
