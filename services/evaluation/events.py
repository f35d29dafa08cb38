"""Events evaluation consumes (ModelTrained, ModelDeployed) and emits (ModelEvaluated)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import new_meta

if TYPE_CHECKING:
    from services.evaluation.domain import Assessment
    from services.evaluation.tables import EvaluationRow

PRODUCER = "evaluation"


def model_evaluated(row: EvaluationRow, a: Assessment, correlation_id: str, causation) -> ev.ModelEvaluated:
    metrics: dict[str, float] = {}
    for sm in a.splits:
        for k, v in sm.metrics.items():
            metrics[f"{sm.split}_{k}"] = float(v)
    metrics["gate_value"] = a.candidate_value
    return ev.ModelEvaluated(
        meta=new_meta(PRODUCER, row.project, correlation_id, causation=causation),
        evaluation_id=row.evaluation_id, model_version_id=row.model_version_id, feature_set_id=row.feature_set_id,
        passed=a.passed, reasons=a.reasons, metrics=metrics, baseline_model_version_id=a.baseline_model_version_id)
