"""Events training consumes (FeaturesReady) and emits (ModelTrained)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import new_meta

if TYPE_CHECKING:
    from services.training.domain import FeatureSetInfo, TrainingSpec
    from services.training.tables import ModelVersionRow, RunRow

PRODUCER = "training"
TASK_NAMES = {common_pb2.TASK_CLASSIFICATION: "classification", common_pb2.TASK_REGRESSION: "regression",
              common_pb2.TASK_DETECTION: "detection", common_pb2.TASK_FORECASTING: "forecasting"}


def _ref(r: common_pb2.ArtifactRef) -> dict:
    return {"uri": r.uri, "sha256": r.sha256, "size_bytes": r.size_bytes, "media_type": r.media_type}


def feature_set_info(event: ev.FeaturesReady) -> FeatureSetInfo:
    from services.training.domain import FeatureSetInfo

    if not event.feature_set_id or not event.train.uri or not event.validation.uri:
        err = ValueError(f"FeaturesReady {event.meta.event_id} lacks a feature_set_id or split artifacts")
        err.permanent = True
        raise err
    if event.task not in TASK_NAMES:
        err = ValueError(f"FeaturesReady {event.feature_set_id} has no task")
        err.permanent = True
        raise err
    return FeatureSetInfo(
        feature_set_id=event.feature_set_id, project=event.meta.project,
        dataset_version_id=event.dataset_version_id, task=TASK_NAMES[event.task],
        input_shape=[int(d) for d in event.input_shape], num_classes=int(event.num_classes), class_names=[],
        splits={"train": _ref(event.train), "validation": _ref(event.validation), "test": _ref(event.test)},
        transform=_ref(event.transform), split_rows={k: int(v) for k, v in event.split_rows.items()})


def _artifact(d: dict) -> common_pb2.ArtifactRef:
    return common_pb2.ArtifactRef(uri=d.get("uri", ""), sha256=d.get("sha256", ""),
                                  size_bytes=int(d.get("size_bytes", 0)), media_type=d.get("media_type", ""))


def model_trained(mv: ModelVersionRow, run: RunRow, spec: TrainingSpec) -> ev.ModelTrained:
    causation = ev.EventMeta(event_id=run.causation_id, correlation_id=run.correlation_id) \
        if run.causation_id else None
    return ev.ModelTrained(
        meta=new_meta(PRODUCER, run.project, run.correlation_id, causation=causation),
        run_id=run.run_id, model_version_id=mv.model_version_id, feature_set_id=mv.feature_set_id,
        weights=_artifact(json.loads(mv.weights)), model_card=_artifact(json.loads(mv.card)),
        metrics=json.loads(mv.metrics), trigger=run.trigger)
