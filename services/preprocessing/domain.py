"""Preprocessing: feature specs per project and the feature sets built from dataset versions.

A build validates everything it can before it writes anything; the NPZ splits and the fitted
transform are stored (content-addressed) before the feature-set row that points at them, and the row
and its FeaturesReady event commit in one transaction. The same (project, dataset version, spec
revision) builds once: a second request gets the existing feature set.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gristmill.events.v1 import events_pb2 as ev
from services.common import bus
from services.common.artifacts import Artifact, ArtifactStore
from services.common.bus import Publisher
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted, require
from services.common.features import MEDIA_TYPE as TRANSFORM_MEDIA_TYPE
from services.common.ids import new_id
from services.common.store import Store, get_or_not_found, paginate, utcnow
from services.preprocessing import pipeline
from services.preprocessing.config import PreprocessingSettings
from services.preprocessing.events import PRODUCER, features_ready
from services.preprocessing.models import FeatureSetRow, SpecRow, ref_dict
from services.preprocessing.spec import FeatureSpec

log = logging.getLogger(__name__)

NPZ = "application/x-npz"


def npz_bytes(split: pipeline.SplitData) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=split.x, y=split.y, index=split.index)
    return buf.getvalue()


def read_parquet(data: bytes, uri: str) -> pa.Table:
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"data {uri} is not a readable Parquet file: {exc}") from exc


class Preprocessing:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: Publisher,
                 settings: PreprocessingSettings) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings

    # --- specs -----------------------------------------------------------------------------------
    def put_spec(self, spec: FeatureSpec) -> FeatureSpec:
        spec = spec.normalized()
        for attempt in range(3):
            try:
                with self.store.session() as s:
                    rev = (s.scalar(select(func.max(SpecRow.revision)).where(SpecRow.project == spec.project))
                           or 0) + 1
                    now = utcnow()
                    stored = FeatureSpec.from_dict({**spec.to_dict(), "revision": rev}, updated_at=now)
                    s.add(SpecRow(project=spec.project, revision=rev, spec=stored.to_dict(), created_at=now))
                log.info("feature spec stored", extra={"project": spec.project, "revision": rev})
                return stored
            except IntegrityError:  # a concurrent put took this revision; take the next one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def current_spec(s: Session, project: str) -> FeatureSpec | None:
        row = s.scalar(select(SpecRow).where(SpecRow.project == project).order_by(SpecRow.revision.desc()).limit(1))
        return None if row is None else FeatureSpec.from_dict(row.spec, updated_at=row.created_at)

    def get_spec(self, project: str) -> FeatureSpec:
        require(project.strip(), "project is required")
        with self.store.session() as s:
            spec = self.current_spec(s, project)
        if spec is None:
            raise NotFound(f"project {project!r} has no feature spec")
        return spec

    # --- feature sets ----------------------------------------------------------------------------
    def get_feature_set(self, feature_set_id: str) -> FeatureSetRow:
        require(feature_set_id, "feature_set_id is required")
        with self.store.session() as s:
            return get_or_not_found(s, FeatureSetRow, feature_set_id, "feature set")

    def list_feature_sets(self, project: str, size: int, token: str) -> tuple[list[FeatureSetRow], str]:
        q = select(FeatureSetRow).order_by(FeatureSetRow.created_at, FeatureSetRow.feature_set_id)
        if project:
            q = q.where(FeatureSetRow.project == project)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    @contextlib.contextmanager
    def _session(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.store.session() as s:
                yield s

    @staticmethod
    def _existing(s: Session, project: str, version: str, revision: int) -> FeatureSetRow | None:
        return s.scalar(select(FeatureSetRow).where(
            FeatureSetRow.project == project, FeatureSetRow.dataset_version_id == version,
            FeatureSetRow.spec_revision == revision))

    def build_feature_set(self, project: str, dataset_version_id: str, data: Artifact, *, label_column: str = "",
                          correlation_id: str = "", cause: ev.EventMeta | None = None,
                          session: Session | None = None) -> tuple[FeatureSetRow, bool]:
        """Build (or find) the feature set of `dataset_version_id` under the project's current spec.

        With `session` (an event handler's), the row and its event join that transaction; the event
        is flushed after it commits. Returns the row and whether this call created it.
        """
        require(project.strip(), "project is required")
        require(dataset_version_id.strip(), "dataset_version_id is required")
        require(data.uri, "data.uri is required: the dataset version's Parquet artifact")
        with self._session(session) as s:
            spec = self.current_spec(s, project)
            if spec is None:
                raise FailedPrecondition(f"project {project!r} has no feature spec; call PutFeatureSpec first")
            existing = self._existing(s, project, dataset_version_id, spec.revision)
        if existing is not None:
            return existing, False
        limit = self.settings.max_input_mb << 20
        if data.size_bytes > limit:
            raise ResourceExhausted(f"data is {data.size_bytes} bytes; this service reads at most "
                                    f"{self.settings.max_input_mb} MiB (GRISTMILL_PREPROCESSING_MAX_INPUT_MB)")

        started = time.perf_counter()
        raw = self.artifacts.read_bytes(data.uri, data.sha256)       # checksum-verified
        if len(raw) > limit:
            raise ResourceExhausted(f"data is {len(raw)} bytes; this service reads at most "
                                    f"{self.settings.max_input_mb} MiB")
        table = read_parquet(raw, data.uri)
        built = pipeline.build(table, spec, spec.label_column or label_column or "label",
                               threads=self.settings.decode_threads)

        # Artifacts first (content-addressed, atomic), then the row that points at them.
        stored = {name: ref_dict(self.artifacts.put_bytes(npz_bytes(split), NPZ))
                  for name, split in built.splits.items()}
        stored["transform"] = ref_dict(self.artifacts.put_bytes(built.transform.to_json().encode(),
                                                                TRANSFORM_MEDIA_TYPE))
        meta = bus.new_meta(PRODUCER, project, correlation_id, causation=cause)
        row = FeatureSetRow(
            feature_set_id=new_id("fs"), project=project, dataset_version_id=dataset_version_id,
            spec_revision=spec.revision, artifacts=stored, split_rows=built.split_rows,
            cleaning=built.report.to_dict(), augmented_rows=built.augmented_rows, task=built.transform.task,
            input_shape=list(built.transform.input_shape), class_names=list(built.transform.class_names),
            correlation_id=meta.correlation_id, seconds=time.perf_counter() - started, created_at=utcnow(),
        )
        if session is not None:
            again = self._existing(session, project, dataset_version_id, spec.revision)
            if again is not None:
                return again, False
            session.add(row)
            self.publisher.stage(session, features_ready(row, meta), key=project)
            session.flush()
        else:
            try:
                with self.store.session() as s:
                    again = self._existing(s, project, dataset_version_id, spec.revision)
                    if again is not None:
                        return again, False
                    s.add(row)
                    self.publisher.stage(s, features_ready(row, meta), key=project)
            except IntegrityError:  # a concurrent build of the same key committed first
                with self.store.session() as s:
                    again = self._existing(s, project, dataset_version_id, spec.revision)
                if again is None:
                    raise
                return again, False
        log.info("feature set stored", extra={
            "feature_set_id": row.feature_set_id, "project": project, "dataset_version_id": dataset_version_id,
            "spec_revision": spec.revision, "split_rows": row.split_rows, "seconds": round(row.seconds, 3),
            "correlation_id": meta.correlation_id})
        return row, True
