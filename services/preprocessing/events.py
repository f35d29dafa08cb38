"""Events: DatasetLabeled in (build the project's feature set), FeaturesReady out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from gristmill.events.v1 import events_pb2 as ev
from services.common.convert import artifact_from_ref, artifact_ref
from services.common.errors import GristmillError
from services.preprocessing.convert import TASK_VALUE
from services.preprocessing.models import FeatureSetRow, artifact_of

if TYPE_CHECKING:
    from services.preprocessing.domain import Preprocessing

log = logging.getLogger(__name__)

PRODUCER = "preprocessing"
# Retrying cannot fix the data or the spec: dead-letter at once.
PERMANENT = ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED")


def features_ready(row: FeatureSetRow, meta: ev.EventMeta) -> ev.FeaturesReady:
    a = row.artifacts
    event = ev.FeaturesReady(
        meta=meta, feature_set_id=row.feature_set_id, dataset_version_id=row.dataset_version_id,
        split_rows=row.split_rows, task=TASK_VALUE.get(row.task, 0), input_shape=row.input_shape,
        num_classes=len(row.class_names),
    )
    for name in ("train", "validation", "test", "transform"):
        getattr(event, name).CopyFrom(artifact_ref(artifact_of(a[name])))
    return event


class DatasetLabeledHandler:
    """handler(event, session): builds the feature set with the project's current spec; a project
    without a spec is skipped. Idempotent twice over: the consumer skips seen event ids, and the
    same (dataset version, spec revision) builds once."""

    def __init__(self, domain: Preprocessing) -> None:
        self.domain = domain

    def __call__(self, event: ev.DatasetLabeled, session: Session) -> None:
        project = event.meta.project
        ctx = {"event_id": event.meta.event_id, "project": project, "version_id": event.version_id,
               "correlation_id": event.meta.correlation_id}
        if not project:
            log.warning("DatasetLabeled without a project; skipped", extra=ctx)
            return
        if self.domain.current_spec(session, project) is None:
            log.info("no feature spec for the project; DatasetLabeled skipped", extra=ctx)
            return
        try:
            row, created = self.domain.build_feature_set(
                project, event.version_id, artifact_from_ref(event.data), label_column=event.schema.label_column,
                cause=event.meta, session=session)
        except GristmillError as exc:
            if exc.code in PERMANENT:
                exc.permanent = True  # type: ignore[attr-defined]
            raise
        log.info("feature set built" if created else "feature set already built", extra={
            **ctx, "feature_set_id": row.feature_set_id})
