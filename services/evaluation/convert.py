"""Proto <-> domain for evaluation."""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from gristmill.evaluation.v1 import evaluation_pb2 as pb
from services.common.convert import ts
from services.evaluation.domain import GatePolicy
from services.evaluation.study import StudyRequest
from services.evaluation.tables import EvaluationRow, StudyRow, TrialRow


def _struct(d: dict) -> Struct:
    s = Struct()
    s.update(d or {})
    return s


def evaluation_to_proto(r: EvaluationRow) -> pb.Evaluation:
    d = json.loads(r.diagnosis)
    return pb.Evaluation(
        evaluation_id=r.evaluation_id, project=r.project, model_version_id=r.model_version_id,
        splits=[pb.SplitMetrics(split=m["split"], metrics=m["metrics"], confusion_matrix=m["confusion_matrix"],
                                num_classes=m["num_classes"]) for m in json.loads(r.splits)],
        diagnosis=pb.Diagnosis(verdict=d["verdict"], evidence=d["evidence"], recommendations=d["recommendations"]),
        passed=r.passed, reasons=json.loads(r.reasons), gate_metric=r.gate_metric,
        baseline_model_version_id=r.baseline_model_version_id, created_at=ts(r.created_at),
        feature_set_id=r.feature_set_id, candidate_value=r.candidate_value, baseline_value=r.baseline_value,
        trigger=r.trigger, gate_split=r.gate_split)


def policy_from_proto(p: pb.GatePolicy) -> GatePolicy:
    return GatePolicy(project=p.project.strip(), metric=p.metric.strip(), split=p.split.strip().lower(),
                      direction=p.direction.strip().lower(),
                      threshold=p.threshold if p.HasField("threshold") else None,
                      min_improvement=p.min_improvement, ignore_live=p.ignore_live,
                      skip_auto_evaluate=p.skip_auto_evaluate, block_on_overfitting=p.block_on_overfitting)


def policy_to_proto(p: GatePolicy) -> pb.GatePolicy:
    out = pb.GatePolicy(project=p.project, metric=p.metric, split=p.split, direction=p.direction,
                        min_improvement=p.min_improvement, ignore_live=p.ignore_live,
                        skip_auto_evaluate=p.skip_auto_evaluate, block_on_overfitting=p.block_on_overfitting,
                        revision=p.revision, updated_at=ts(p.updated_at))
    if p.threshold is not None:
        out.threshold = p.threshold
    return out


def study_request_from_proto(r: pb.StartStudyRequest) -> StudyRequest:
    return StudyRequest(project=r.project.strip(), feature_set_id=r.feature_set_id.strip(),
                        space=json_format.MessageToDict(r.space), sampler=r.sampler.strip(), trials=r.trials,
                        parallelism=r.parallelism, metric=r.metric.strip(), architecture=r.architecture.strip(),
                        base=json_format.MessageToDict(r.base), direction=r.direction.strip().lower(),
                        pruner=r.pruner.strip(), seed=r.seed)


def study_to_proto(row: StudyRow, trials: list[TrialRow]) -> pb.Study:
    req = json.loads(row.request)
    return pb.Study(
        study_id=row.study_id, state=row.state, best_trial=row.best_trial, best_params=_struct(json.loads(row.best_params)),
        trials=[pb.Trial(number=t.number, params=_struct(json.loads(t.params)), value=t.value, state=t.state,
                         run_id=t.run_id, intermediate=json.loads(t.intermediate), model_version_id=t.model_version_id,
                         message=t.message) for t in trials],
        project=row.project, feature_set_id=row.feature_set_id, metric=req["metric"], direction=req["direction"],
        sampler=req["sampler"], best_value=row.best_value, message=row.message, created_at=ts(row.created_at),
        parallelism=req["parallelism"])
