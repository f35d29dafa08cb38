"""Labeling: jobs over a dataset version, a leased task queue with overlap, consensus and agreement,
model-assisted pre-labels, labeled dataset versions, and per-project policies that turn
`DatasetIngested` into jobs. No grpc here: errors are `services.common.errors`.

The queue. A job over N items with overlap k holds N x k tasks, one per (item, slot). A task is free
when it is pending or its lease has run out; `lease_tasks` hands an annotator free tasks (at most one
per item) of items that annotator has not answered and does not hold, so an item's k annotations come
from k different people. Leases expire lazily: an expired task is simply free again, and an answer on
an expired lease (or on a task leased by someone else) is refused. With pre-labels the queue is served
uncertainty-first (lowest confidence first; items without a pre-label after those with one), then by
item index.

Consensus (see agreement.py for the statistics). Classes: plurality, or votes weighted by each
annotator's smoothed accuracy on gold items; numbers: the (weighted) median; boxes: per class, the mean
of boxes matched across annotators by IoU. Gold items take their gold label. Items without annotations
stay null in the labeled column. Agreement (Fleiss, pairwise Cohen) is defined for CLASS jobs; NUMERIC
and BOUNDING_BOX jobs report NaN kappas and flag items on spread / unmatched boxes instead.

The labeled version is the source Parquet with the consensus column set (replaced when present), stored
content-addressed; its id is derived from its content as ingestion derives versions:
"dv-" + the first 16 hex digits of sha256("<dataset_id>:<artifact sha256>").
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import hashlib
import io
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from gristmill.events.v1 import events_pb2 as ev
from services.common import bus, ids
from services.common.artifacts import Artifact, ArtifactStore
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, require
from services.common.store import Store, get_or_not_found, paginate, utcnow
from services.labeling import agreement as ag
from services.labeling import events
from services.labeling.config import LabelingSettings

log = logging.getLogger(__name__)

__all__ = [
    "AnnotatorStats", "Base", "Box", "ConsensusMethod", "Job", "JobRequest", "JobState", "JobStats", "Label",
    "LabelKind", "LabelSchema", "LabelingDomain", "LabelingParams", "PairKappa", "Policy", "Prelabel",
    "SubmitResult", "Task", "labeled_version_id", "validate_label", "validate_schema",
]


# --- domain types ------------------------------------------------------------------------------------

class LabelKind(enum.Enum):
    CLASS = "class"
    NUMERIC = "numeric"
    BOUNDING_BOX = "bounding_box"


class ConsensusMethod(enum.Enum):
    MAJORITY = "majority"
    WEIGHTED = "weighted"   # votes weighted by annotator accuracy on gold items


class JobState(enum.Enum):
    OPEN = "open"
    COMPLETED = "completed"


@dataclass(frozen=True)
class LabelSchema:
    kind: LabelKind | None
    classes: tuple[str, ...] = ()
    min: float | None = None        # NUMERIC range, inclusive; None: unbounded
    max: float | None = None


@dataclass(frozen=True)
class Box:
    label: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float


# A label is a class name (CLASS), a number (NUMERIC) or a tuple of boxes (BOUNDING_BOX).
Label = str | float | tuple[Box, ...]


@dataclass(frozen=True)
class LabelingParams:
    """How a job labels; shared by CreateJob and a project's policy. Zero values mean the defaults."""

    schema: LabelSchema
    overlap: int = 1
    consensus: ConsensusMethod = ConsensusMethod.MAJORITY
    min_coverage: float = 1.0
    min_agreement: float = 0.0      # Fleiss' kappa gate; 0: none
    lease_seconds: int = 0          # 0: the service default
    label_column: str = "label"
    auto_finalize: bool = False


@dataclass(frozen=True)
class Policy:
    project: str
    params: LabelingParams
    skip_if_labeled: bool = False


@dataclass(frozen=True)
class JobRequest:
    project: str
    dataset_id: str
    version_id: str
    params: LabelingParams
    gold: tuple[tuple[int, Label | None], ...] = ()   # (item_index, gold label) pairs
    correlation_id: str = ""
    data: Artifact | None = None     # None: look the version up among DatasetIngested events seen
    dataset_schema: bytes = b""      # serialized gristmill.common.v1.Schema; b"": unknown


@dataclass(frozen=True)
class Job:
    job_id: str
    project: str
    dataset_id: str
    version_id: str
    params: LabelingParams
    state: JobState
    num_items: int
    created_at: dt.datetime
    data: Artifact
    correlation_id: str
    labeled_version_id: str = ""
    labeled_data: Artifact | None = None


@dataclass(frozen=True)
class Prelabel:
    item_index: int
    label: Label
    confidence: float


@dataclass(frozen=True)
class Task:
    task_id: str
    item_index: int
    image_png: bytes
    record_json: str
    suggestion: Label | None
    suggestion_confidence: float
    lease_expires_at: dt.datetime


@dataclass(frozen=True)
class SubmitResult:
    job_completed: bool
    labeled_version_id: str = ""


@dataclass(frozen=True)
class PairKappa:
    annotator_a: str
    annotator_b: str
    cohen_kappa: float
    shared_items: int


@dataclass(frozen=True)
class AnnotatorStats:
    annotator_id: str
    annotations: int
    gold_answered: int
    gold_accuracy: float            # NaN without gold answers


@dataclass(frozen=True)
class JobStats:
    num_items: int
    annotations: int
    covered_items: int
    coverage: float
    fleiss_kappa: float             # NaN when undefined (no item rated twice, or not a CLASS job)
    cohen: list[PairKappa]
    annotators: list[AnnotatorStats]
    flagged_items: list[int]
    thresholds_met: bool


# --- tables ------------------------------------------------------------------------------------------

class Base(DeclarativeBase):
    pass


class PolicyRow(Base):
    __tablename__ = "labeling_policies"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    params: Mapped[str] = mapped_column(Text)
    skip_if_labeled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetVersionRow(Base):
    """Dataset versions announced by DatasetIngested: how CreateJob finds a version's artifact."""

    __tablename__ = "labeling_dataset_versions"
    version_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str] = mapped_column(String(200))
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    media_type: Mapped[str] = mapped_column(String(200), default="")
    schema: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    num_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    labeled: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobRow(Base):
    __tablename__ = "labeling_jobs"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    dataset_id: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[str] = mapped_column(String(200), index=True)
    params: Mapped[str] = mapped_column(Text)
    gold: Mapped[str] = mapped_column(Text, default="{}")
    data_uri: Mapped[str] = mapped_column(Text)
    data_sha256: Mapped[str] = mapped_column(String(64))
    data_size: Mapped[int] = mapped_column(BigInteger, default=0)
    dataset_schema: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    num_items: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=JobState.OPEN.value)
    origin: Mapped[str] = mapped_column(String(16), default="rpc")         # rpc | policy
    correlation_id: Mapped[str] = mapped_column(String(200), default="")
    cause_event_id: Mapped[str] = mapped_column(String(64), default="")
    labeled_version_id: Mapped[str] = mapped_column(String(64), default="")
    labeled_uri: Mapped[str] = mapped_column(Text, default="")
    labeled_sha256: Mapped[str] = mapped_column(String(64), default="")
    labeled_size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TaskRow(Base):
    __tablename__ = "labeling_tasks"
    task_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), ForeignKey("labeling_jobs.job_id"))
    item_index: Mapped[int] = mapped_column(BigInteger)
    slot: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8), default="pending")      # pending | leased | done
    annotator_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)   # epoch seconds
    priority: Mapped[float | None] = mapped_column(Float, nullable=True)           # pre-label confidence
    __table_args__ = (
        Index("ix_labeling_tasks_queue", "job_id", "state", "priority", "item_index", "slot"),
        Index("ix_labeling_tasks_annotator", "job_id", "annotator_id"),
        Index("ix_labeling_tasks_item", "job_id", "item_index"),
    )


class AnnotationRow(Base):
    __tablename__ = "labeling_annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(64), ForeignKey("labeling_jobs.job_id"), index=True)
    task_id: Mapped[str] = mapped_column(String(120), unique=True)
    item_index: Mapped[int] = mapped_column(BigInteger)
    annotator_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(Text)                       # JSON, see _label_to_json
    class_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    number: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # one annotator never answers the same item twice, whatever happens above
    __table_args__ = (UniqueConstraint("job_id", "item_index", "annotator_id"),)


class PrelabelRow(Base):
    __tablename__ = "labeling_prelabels"
    job_id: Mapped[str] = mapped_column(String(64), ForeignKey("labeling_jobs.job_id"), primary_key=True)
    item_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)


PENDING, LEASED, DONE = "pending", "leased", "done"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_BOXES = 1000
MAX_ID = 200
_CHUNK = 500


# --- validation and encoding -------------------------------------------------------------------------

def _finite(x: float) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def validate_schema(schema: LabelSchema | None) -> LabelSchema:
    """Raise InvalidArgument unless `schema` is usable; returns it with classes stripped."""
    require(schema is not None and schema.kind is not None,
            "schema.kind is required: LABEL_KIND_CLASS, LABEL_KIND_NUMERIC or LABEL_KIND_BOUNDING_BOX")
    assert schema is not None and schema.kind is not None
    if schema.kind in (LabelKind.CLASS, LabelKind.BOUNDING_BOX):
        require(schema.classes, f"schema.classes must list at least one class for {schema.kind.name} labels")
        classes = tuple(c.strip() for c in schema.classes)
        require(all(classes), "schema.classes must not contain empty names")
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        require(not dupes, f"schema.classes has duplicates: {dupes}")
        require(len(classes) <= 10_000, "schema.classes may list at most 10000 classes")
        require(schema.min is None and schema.max is None, "schema.min/max apply to NUMERIC labels only")
        return replace(schema, classes=classes)
    require(not schema.classes, "schema.classes apply to CLASS and BOUNDING_BOX labels, not NUMERIC")
    if schema.min is not None or schema.max is not None:
        require(schema.min is not None and schema.max is not None and _finite(schema.min) and _finite(schema.max)
                and schema.min < schema.max,
                f"schema.min must be below schema.max (got min={schema.min}, max={schema.max}); "
                "leave both 0 for an unbounded target")
    return schema


def validate_label(schema: LabelSchema, label: Label | None, what: str = "label") -> None:
    """Raise InvalidArgument unless `label` fits `schema`."""
    require(label is not None, f"{what} is required")
    if schema.kind is LabelKind.CLASS:
        require(isinstance(label, str), f"{what} must be a class_name for a CLASS job")
        require(label in schema.classes, f"{what} {label!r} is not one of the classes {list(schema.classes)}")
    elif schema.kind is LabelKind.NUMERIC:
        require(isinstance(label, float | int) and not isinstance(label, bool),
                f"{what} must be a number for a NUMERIC job")
        assert isinstance(label, float | int)
        require(math.isfinite(label), f"{what} must be a finite number, got {label}")
        if schema.min is not None and schema.max is not None:
            require(schema.min <= label <= schema.max,
                    f"{what} {label} is outside the range [{schema.min}, {schema.max}]")
    else:
        require(isinstance(label, tuple), f"{what} must be boxes for a BOUNDING_BOX job")
        assert isinstance(label, tuple)
        require(len(label) <= MAX_BOXES, f"{what} has {len(label)} boxes; at most {MAX_BOXES}")
        for n, b in enumerate(label):
            require(b.label in schema.classes,
                    f"{what} box {n}: {b.label!r} is not one of the classes {list(schema.classes)}")
            coords = (b.x_min, b.y_min, b.x_max, b.y_max)
            require(all(_finite(c) and c >= 0 for c in coords), f"{what} box {n}: coordinates must be finite and >= 0")
            require(b.x_min < b.x_max and b.y_min < b.y_max,
                    f"{what} box {n}: needs x_min < x_max and y_min < y_max, got {coords}")


def labeled_version_id(dataset_id: str, sha256: str) -> str:
    """Content-derived, as ingestion derives its versions: "dv-" + 16 hex of sha256("<dataset>:<digest>")."""
    return "dv-" + hashlib.sha256(f"{dataset_id}:{sha256}".encode()).hexdigest()[:16]


def _label_to_json(label: Label) -> str:
    if isinstance(label, str):
        return json.dumps({"class": label})
    if isinstance(label, tuple):
        return json.dumps({"boxes": [[b.label, b.x_min, b.y_min, b.x_max, b.y_max] for b in label]})
    return json.dumps({"number": float(label)})


def _label_from_json(text: str) -> Label:
    doc = json.loads(text)
    if "class" in doc:
        return doc["class"]
    if "boxes" in doc:
        return tuple(Box(b[0], *map(float, b[1:])) for b in doc["boxes"])
    return float(doc["number"])


def _boxes_json(boxes: Sequence[Box]) -> str:
    """The labeled column's value for a BOUNDING_BOX item: a JSON list of box objects."""
    return json.dumps([{"label": b.label, "x_min": b.x_min, "y_min": b.y_min, "x_max": b.x_max, "y_max": b.y_max}
                       for b in boxes])


def _params_to_json(p: LabelingParams) -> str:
    s = p.schema
    return json.dumps({
        "kind": s.kind.value if s.kind else None, "classes": list(s.classes), "min": s.min, "max": s.max,
        "overlap": p.overlap, "consensus": p.consensus.value, "min_coverage": p.min_coverage,
        "min_agreement": p.min_agreement, "lease_seconds": p.lease_seconds, "label_column": p.label_column,
        "auto_finalize": p.auto_finalize,
    })


def _params_from_json(text: str) -> LabelingParams:
    d = json.loads(text)
    schema = LabelSchema(LabelKind(d["kind"]), tuple(d["classes"]), d["min"], d["max"])
    return LabelingParams(schema, d["overlap"], ConsensusMethod(d["consensus"]), d["min_coverage"],
                          d["min_agreement"], d["lease_seconds"], d["label_column"], d["auto_finalize"])


def _jsonable(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


@dataclass
class _Dataset:
    table: pa.Table
    is_image: bool

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


@dataclass
class _Outcome:
    stats: JobStats
    labels: list[Label | None]      # consensus per item (gold label on gold items); None: no label


# --- the domain --------------------------------------------------------------------------------------

class LabelingDomain:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: bus.Publisher, settings: LabelingSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings
        self.clock = clock
        # One writer at a time in this process: the queue's check-then-lease and finalization stay atomic
        # (conditional updates keep other processes honest too).
        self._write = threading.RLock()
        self._cache: OrderedDict[str, _Dataset] = OrderedDict()
        self._cache_lock = threading.Lock()

    # --- policies ------------------------------------------------------------------------------------
    def put_policy(self, policy: Policy) -> Policy:
        require(policy.project.strip(), "policy.project is required")
        require(len(policy.project) <= MAX_ID, f"policy.project must be at most {MAX_ID} characters")
        params = self._validated_params(policy.params)
        with self._write, self.store.session() as s:
            row = s.get(PolicyRow, policy.project)
            if row is None:
                row = PolicyRow(project=policy.project)
                s.add(row)
            row.params, row.skip_if_labeled, row.updated_at = _params_to_json(params), policy.skip_if_labeled, utcnow()
        return Policy(policy.project, params, policy.skip_if_labeled)

    def get_policy(self, project: str) -> Policy:
        require(project.strip(), "project is required")
        with self.store.session() as s:
            row = s.get(PolicyRow, project)
            if row is None:
                raise NotFound(f"project {project!r} has no labeling policy")
            return Policy(row.project, _params_from_json(row.params), row.skip_if_labeled)

    # --- jobs ----------------------------------------------------------------------------------------
    def create_job(self, req: JobRequest) -> Job:
        for name in ("project", "dataset_id", "version_id"):
            require(getattr(req, name).strip(), f"{name} is required")
            require(len(getattr(req, name)) <= MAX_ID, f"{name} must be at most {MAX_ID} characters")
        require(len(req.correlation_id) <= MAX_ID, f"correlation_id must be at most {MAX_ID} characters")
        params = self._validated_params(req.params)
        with self._write, self.store.session() as s:
            row = self._create_job_in(s, req, params, origin="rpc", cause_event_id="")
        return self._job(row)

    def get_job(self, job_id: str) -> Job:
        with self.store.session() as s:
            return self._job(self._job_row(s, job_id))

    def list_jobs(self, project: str = "", page_size: int = 0, page_token: str = "") -> tuple[list[Job], str]:
        q = select(JobRow).order_by(JobRow.created_at, JobRow.job_id)
        if project:
            q = q.where(JobRow.project == project)
        with self.store.session() as s:
            rows, token = paginate(s, q, page_size, page_token)
        return [self._job(r) for r in rows], token

    # --- the queue -----------------------------------------------------------------------------------
    def lease_tasks(self, job_id: str, annotator_id: str, max_tasks: int = 1) -> list[Task]:
        self._require_annotator(annotator_id)
        require(max_tasks >= 0, "max_tasks must not be negative")
        want = min(max_tasks or 1, self.settings.max_lease_tasks)
        with self._write, self.store.session() as s:
            job = self._job_row(s, job_id)
            self._require_open(job)
            params = _params_from_json(job.params)
            now = self.clock()
            t = TaskRow
            free = or_(t.state == PENDING, and_(t.state == LEASED, t.lease_expires_at <= now))
            mine = select(t.item_index).where(
                t.job_id == job_id, t.annotator_id == annotator_id,
                or_(t.state == DONE, and_(t.state == LEASED, t.lease_expires_at > now)))
            candidates = s.execute(
                select(t.task_id, t.item_index).where(t.job_id == job_id, free, t.item_index.not_in(mine))
                .order_by(t.priority.is_(None), t.priority, t.item_index, t.slot)
                .limit(want * params.overlap)).all()
            expires = now + params.lease_seconds
            chosen: list[tuple[str, int]] = []
            seen: set[int] = set()
            for task_id, item in candidates:
                if len(chosen) == want:
                    break
                if item in seen:
                    continue
                res = s.execute(update(t).where(t.task_id == task_id, free)
                                .values(state=LEASED, annotator_id=annotator_id, lease_expires_at=expires)
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1:      # 0: another process took it first; skip it
                    chosen.append((task_id, item))
                    seen.add(item)
            if not chosen:
                return []
            prelabels = {
                p.item_index: p for p in s.scalars(select(PrelabelRow).where(
                    PrelabelRow.job_id == job_id, PrelabelRow.item_index.in_([i for _, i in chosen])))}
            ds = self._dataset(self._data(job))
            expires_at = dt.datetime.fromtimestamp(expires, dt.UTC)
            out = []
            for task_id, item in chosen:
                png, record = self._payload(ds, item, params.label_column)
                p = prelabels.get(item)
                out.append(Task(task_id, item, png, record, _label_from_json(p.label) if p else None,
                                p.confidence if p else 0.0, expires_at))
            return out

    def submit_annotation(self, task_id: str, annotator_id: str, label: Label | None) -> SubmitResult:
        require(task_id.strip(), "task_id is required")
        self._require_annotator(annotator_id)
        with self._write:
            with self.store.session() as s:
                task = get_or_not_found(s, TaskRow, task_id, "task")
                job = self._job_row(s, task.job_id)
                self._require_open(job)
                params = _params_from_json(job.params)
                validate_label(params.schema, label)
                assert label is not None
                if task.state == DONE:
                    raise FailedPrecondition(f"task {task_id} is already answered")
                if task.state != LEASED or not task.annotator_id:
                    raise FailedPrecondition(f"task {task_id} is not leased; lease it with LeaseTasks first")
                if task.annotator_id != annotator_id:
                    raise FailedPrecondition(f"task {task_id} is leased by another annotator")
                now = self.clock()
                if task.lease_expires_at is None or task.lease_expires_at <= now:
                    raise FailedPrecondition(
                        f"the lease on task {task_id} expired {now - (task.lease_expires_at or now):.0f}s ago "
                        f"(lease_seconds={params.lease_seconds}); lease a task again")
                twice = s.scalar(select(AnnotationRow.id).where(
                    AnnotationRow.job_id == job.job_id, AnnotationRow.item_index == task.item_index,
                    AnnotationRow.annotator_id == annotator_id))
                if twice is not None:
                    raise FailedPrecondition(f"{annotator_id} already answered item {task.item_index} of this job")
                task.state = DONE
                s.add(AnnotationRow(
                    job_id=job.job_id, task_id=task_id, item_index=task.item_index, annotator_id=annotator_id,
                    label=_label_to_json(label),
                    class_index=params.schema.classes.index(label) if params.schema.kind is LabelKind.CLASS else None,
                    number=float(label) if params.schema.kind is LabelKind.NUMERIC else None))  # type: ignore[arg-type]
            if not params.auto_finalize:
                return SubmitResult(False)
            # The answer is committed; finalizing is a separate unit, so a failure there keeps it.
            try:
                done = self._auto_finalize(job.job_id)
            except Exception:  # noqa: BLE001 - logged; FinalizeJob can be called again
                log.exception("auto-finalize failed; the job stays open", extra={"job_id": job.job_id})
                return SubmitResult(False)
            return SubmitResult(done is not None, done.labeled_version_id if done else "")

    def set_prelabels(self, job_id: str, prelabels: Sequence[Prelabel]) -> int:
        with self._write, self.store.session() as s:
            job = self._job_row(s, job_id)
            self._require_open(job)
            schema = _params_from_json(job.params).schema
            seen: set[int] = set()
            for n, p in enumerate(prelabels):
                require(0 <= p.item_index < job.num_items,
                        f"prelabels[{n}].item_index {p.item_index} is outside [0, {job.num_items})")
                require(p.item_index not in seen, f"prelabels[{n}]: item {p.item_index} appears twice")
                seen.add(p.item_index)
                validate_label(schema, p.label, f"prelabels[{n}].label")
                require(_finite(p.confidence) and 0.0 <= p.confidence <= 1.0,
                        f"prelabels[{n}].confidence must be within [0, 1], got {p.confidence}")
            items = [p.item_index for p in prelabels]
            for i in range(0, len(items), _CHUNK):
                s.execute(delete(PrelabelRow).where(PrelabelRow.job_id == job_id,
                                                    PrelabelRow.item_index.in_(items[i:i + _CHUNK])))
            if prelabels:
                conn = s.connection()
                conn.execute(PrelabelRow.__table__.insert(), [
                    {"job_id": job_id, "item_index": p.item_index, "label": _label_to_json(p.label),
                     "confidence": float(p.confidence)} for p in prelabels])
                tt = TaskRow.__table__
                conn.execute(tt.update().where(tt.c.job_id == bindparam("j"), tt.c.item_index == bindparam("i"))
                             .values(priority=bindparam("p")),
                             [{"j": job_id, "i": p.item_index, "p": float(p.confidence)} for p in prelabels])
            return len(prelabels)

    # --- statistics and finalization -----------------------------------------------------------------
    def job_stats(self, job_id: str) -> JobStats:
        with self.store.session() as s:
            return self._compute(s, self._job_row(s, job_id)).stats

    def finalize_job(self, job_id: str, force: bool = False) -> Job:
        with self._write, self.store.session() as s:
            job = self._job_row(s, job_id)
            self._require_open(job)
            params = _params_from_json(job.params)
            outcome = self._compute(s, job)
            st = outcome.stats
            if not st.thresholds_met and not force:
                gaps = []
                if st.coverage < params.min_coverage:
                    gaps.append(f"coverage {st.coverage:.3f} < min_coverage {params.min_coverage:.3f} "
                                f"({st.covered_items}/{st.num_items} items have {params.overlap} annotations)")
                if params.min_agreement > 0 and not st.fleiss_kappa >= params.min_agreement:
                    gaps.append(f"fleiss_kappa {st.fleiss_kappa:.3f} < min_agreement {params.min_agreement:.3f}")
                raise FailedPrecondition(f"job {job_id} does not meet its thresholds: {'; '.join(gaps)}; "
                                         "annotate more, or finalize with force")
            if all(v is None for v in outcome.labels):
                raise FailedPrecondition(f"job {job_id} has no labeled item yet; nothing to finalize")
            self._complete(s, job, params, outcome)
            return self._job(job)

    def _auto_finalize(self, job_id: str) -> Job | None:
        with self._write, self.store.session() as s:
            job = self._job_row(s, job_id)
            if job.state != JobState.OPEN.value:
                return None
            params = _params_from_json(job.params)
            done = s.scalar(select(func.count()).select_from(TaskRow)
                            .where(TaskRow.job_id == job_id, TaskRow.state == DONE)) or 0
            if done < math.ceil(params.min_coverage * job.num_items - 1e-9) * params.overlap:
                return None      # cannot be covered yet: skip computing the statistics
            outcome = self._compute(s, job)
            if not outcome.stats.thresholds_met:
                return None
            self._complete(s, job, params, outcome)
            return self._job(job)

    def _complete(self, s: Session, job: JobRow, params: LabelingParams, outcome: _Outcome) -> None:
        kind = params.schema.kind
        labels = outcome.labels
        if kind is LabelKind.NUMERIC:
            column = pa.array([None if v is None else float(v) for v in labels], pa.float64())   # type: ignore[arg-type]
        elif kind is LabelKind.BOUNDING_BOX:
            column = pa.array([None if v is None else _boxes_json(v) for v in labels], pa.string())  # type: ignore[arg-type]
        else:
            column = pa.array(labels, pa.string())
        table = self._dataset(self._data(job)).table
        name = params.label_column
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), pa.field(name, column.type), column)
        else:
            table = table.append_column(pa.field(name, column.type), column)
        sink = io.BytesIO()
        pq.write_table(table, sink)
        art = self.artifacts.put_bytes(sink.getvalue(), events.PARQUET)   # artifact first, then the row
        version_id = labeled_version_id(job.dataset_id, art.sha256)
        res = s.execute(update(JobRow).where(JobRow.job_id == job.job_id, JobRow.state == JobState.OPEN.value)
                        .values(state=JobState.COMPLETED.value, labeled_version_id=version_id, labeled_uri=art.uri,
                                labeled_sha256=art.sha256, labeled_size=art.size_bytes, completed_at=utcnow())
                        .execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise FailedPrecondition(f"job {job.job_id} was completed concurrently")
        s.refresh(job)
        schema = events.labeled_schema(job.dataset_schema, table.schema, name, kind is LabelKind.NUMERIC,
                                       all(v is not None for v in labels))
        st = outcome.stats
        self._stage(s, events.dataset_labeled(
            events.meta(job.project, job.correlation_id, job.cause_event_id), job_id=job.job_id,
            dataset_id=job.dataset_id, source_version_id=job.version_id, version_id=version_id,
            num_rows=table.num_rows, schema=schema, data=art, coverage=st.coverage, fleiss_kappa=st.fleiss_kappa))
        log.info("job completed", extra={"job_id": job.job_id, "labeled_version_id": version_id,
                                         "coverage": st.coverage, "fleiss_kappa": st.fleiss_kappa})

    def _compute(self, s: Session, job: JobRow) -> _Outcome:
        params = _params_from_json(job.params)
        schema, n_items, k = params.schema, job.num_items, params.overlap
        a = AnnotationRow
        rows = s.execute(select(a.item_index, a.annotator_id, a.label, a.class_index, a.number)
                         .where(a.job_id == job.job_id).order_by(a.id)).all()
        items = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        names, who = np.unique(np.array([r[1] for r in rows], dtype=object), return_inverse=True) if rows else (
            np.empty(0, object), np.empty(0, np.int64))
        n_annotators = len(names)
        covered = int((np.bincount(items, minlength=n_items) >= k).sum())
        coverage = covered / n_items if n_items else 0.0
        gold = {int(i): _label_from_json(v) for i, v in json.loads(job.gold).items()}
        gold_rows = np.flatnonzero(np.isin(items, np.fromiter(gold, np.int64, len(gold))))

        labels: list[Label | None] = [None] * n_items
        fleiss, cohen, flagged = math.nan, [], np.zeros(n_items, bool)
        thr = self.settings.box_iou
        if schema.kind is LabelKind.CLASS:
            classes = np.fromiter((r[3] for r in rows), np.int64, len(rows))
            gold_idx = {i: schema.classes.index(g) for i, g in gold.items()}   # type: ignore[arg-type]
            correct = np.array([classes[j] == gold_idx[items[j]] for j in gold_rows], float)
        elif schema.kind is LabelKind.NUMERIC:
            values = np.fromiter((r[4] for r in rows), float, len(rows))
            correct = np.array([abs(values[j] - gold[items[j]]) <= self._tolerance(schema, gold[items[j]])  # type: ignore[operator]
                                for j in gold_rows], float)
        else:
            boxes = [self._box_array(schema, _label_from_json(r[2])) for r in rows]  # type: ignore[arg-type]
            gold_boxes = {i: self._box_array(schema, g) for i, g in gold.items()}    # type: ignore[arg-type]
            correct = np.array([ag.boxes_match(boxes[j], gold_boxes[items[j]], thr) for j in gold_rows], float)
        answered, right, accuracy = ag.gold_accuracy(who[gold_rows], correct, n_annotators)
        weights = (ag.accuracy_weights(answered, right)[who] if params.consensus is ConsensusMethod.WEIGHTED
                   else None)

        if schema.kind is LabelKind.CLASS:
            counts = ag.vote_counts(items, classes, n_items, len(schema.classes))
            votes = counts if weights is None else ag.vote_counts(items, classes, n_items, len(schema.classes), weights)
            labels = [schema.classes[w] if w >= 0 else None for w in ag.plurality(votes)]
            fleiss = ag.fleiss_kappa(counts)
            cohen = [PairKappa(names[x], names[y], kap, shared)
                     for x, y, kap, shared in ag.pairwise_cohen(items, who, classes, len(schema.classes))]
            flagged = ag.disagreements(counts)
        elif schema.kind is LabelKind.NUMERIC:
            med = ag.grouped_median(items, values, n_items, weights)
            labels = [None if math.isnan(m) else float(m) for m in med]
            spread = ag.grouped_spread(items, values, n_items)
            tol = np.array([self._tolerance(schema, 0.0 if math.isnan(m) else m) for m in med])
            flagged = np.nan_to_num(spread, nan=0.0) > tol
        else:
            by_item: dict[int, list[int]] = {}
            for j, i in enumerate(items.tolist()):
                by_item.setdefault(i, []).append(j)
            for i, js in by_item.items():
                w = None if weights is None else weights[js]
                result, disagree = ag.box_consensus([boxes[j] for j in js], w, thr)
                labels[i] = tuple(Box(schema.classes[int(r[0])], *map(float, r[1:])) for r in result)
                flagged[i] = disagree
        for i, g in gold.items():
            labels[i] = g

        met = coverage >= params.min_coverage - 1e-9 and (params.min_agreement <= 0 or fleiss >= params.min_agreement)
        per_annotator = np.bincount(who, minlength=n_annotators)
        stats = JobStats(
            num_items=n_items, annotations=len(rows), covered_items=covered, coverage=coverage, fleiss_kappa=fleiss,
            cohen=cohen,
            annotators=[AnnotatorStats(str(names[x]), int(per_annotator[x]), int(answered[x]), float(accuracy[x]))
                        for x in range(n_annotators)],
            flagged_items=np.flatnonzero(flagged).tolist(), thresholds_met=bool(met))
        return _Outcome(stats, labels)

    def _tolerance(self, schema: LabelSchema, ref: float) -> float:
        if schema.min is not None and schema.max is not None:
            return self.settings.numeric_tolerance * (schema.max - schema.min)
        return self.settings.numeric_tolerance * max(1.0, abs(ref))

    @staticmethod
    def _box_array(schema: LabelSchema, boxes: tuple[Box, ...]) -> np.ndarray:
        return np.array([[schema.classes.index(b.label), b.x_min, b.y_min, b.x_max, b.y_max] for b in boxes],
                        float).reshape(-1, 5)

    # --- events --------------------------------------------------------------------------------------
    def on_dataset_ingested(self, event: ev.DatasetIngested, s: Session) -> None:
        """DatasetIngested -> remember the version; with a policy, a job (or DatasetLabeled when it came labeled)."""
        with self._write:
            self._on_dataset_ingested(event, s)

    def _on_dataset_ingested(self, event: ev.DatasetIngested, s: Session) -> None:
        m = event.meta
        project = m.project
        if not (event.version_id and event.data.uri and event.data.sha256 and project):
            exc = InvalidArgument("DatasetIngested needs meta.project, version_id and data (uri, sha256)")
            exc.permanent = True  # type: ignore[attr-defined] - the bus dead-letters it at once
            raise exc
        dv = s.get(DatasetVersionRow, event.version_id)
        if dv is None:
            dv = DatasetVersionRow(version_id=event.version_id)
            s.add(dv)
        dv.project, dv.dataset_id, dv.labeled, dv.num_rows = project, event.dataset_id, event.labeled, event.num_rows
        dv.uri, dv.sha256, dv.size_bytes = event.data.uri, event.data.sha256, event.data.size_bytes
        dv.media_type, dv.schema, dv.seen_at = event.data.media_type, event.schema.SerializeToString(), utcnow()
        ctx = {"project": project, "version_id": event.version_id, "event_id": m.event_id,
               "correlation_id": m.correlation_id}
        row = s.get(PolicyRow, project)
        if row is None:
            log.info("no labeling policy for the project; DatasetIngested noted, no job", extra=ctx)
            return
        policy = Policy(project, _params_from_json(row.params), row.skip_if_labeled)
        if event.labeled and policy.skip_if_labeled:
            self._stage(s, events.dataset_labeled(
                bus.new_meta(events.PRODUCER, project, causation=m), job_id="", dataset_id=event.dataset_id,
                source_version_id=event.version_id, version_id=event.version_id, num_rows=event.num_rows,
                schema=event.schema, data=Artifact(event.data.uri, event.data.sha256, event.data.size_bytes,
                                                   event.data.media_type),
                coverage=1.0, fleiss_kappa=math.nan, skipped_labeling=True))
            log.info("dataset arrived labeled; labeling skipped by policy", extra=ctx)
            return
        existing = s.scalar(select(JobRow.job_id).where(
            JobRow.project == project, JobRow.version_id == event.version_id, JobRow.origin == "policy"))
        if existing:
            log.info("a policy job for this version exists; nothing to do", extra={**ctx, "job_id": existing})
            return
        req = JobRequest(project, event.dataset_id, event.version_id, policy.params, (), m.correlation_id,
                         Artifact(event.data.uri, event.data.sha256, event.data.size_bytes, event.data.media_type),
                         event.schema.SerializeToString())
        try:
            job = self._create_job_in(s, req, policy.params, origin="policy", cause_event_id=m.event_id)
        except (InvalidArgument, FailedPrecondition) as exc:
            exc.permanent = True  # type: ignore[attr-defined] - retrying cannot fix the data
            raise
        log.info("labeling job created from policy", extra={**ctx, "job_id": job.job_id, "items": job.num_items})

    def _stage(self, s: Session, event) -> None:
        """Stage an event in the caller's transaction; the publisher's relay sends it after commit."""
        self.publisher.stage(s, event)

    # --- helpers -------------------------------------------------------------------------------------
    def _validated_params(self, p: LabelingParams) -> LabelingParams:
        schema = validate_schema(p.schema)
        require(isinstance(p.consensus, ConsensusMethod), "consensus must be MAJORITY or WEIGHTED")
        require(p.overlap >= 0, f"overlap must be at least 1, got {p.overlap}")
        overlap = p.overlap or 1
        require(overlap <= self.settings.max_overlap, f"overlap {overlap} exceeds the limit {self.settings.max_overlap}")
        require(_finite(p.min_coverage) and 0.0 <= p.min_coverage <= 1.0,
                f"min_coverage must be within [0, 1], got {p.min_coverage}")
        require(_finite(p.min_agreement) and 0.0 <= p.min_agreement <= 1.0,
                f"min_agreement must be within [0, 1], got {p.min_agreement}")
        if p.min_agreement > 0:
            require(schema.kind is LabelKind.CLASS, "min_agreement (Fleiss' kappa) applies to CLASS labels only")
            require(overlap >= 2, "min_agreement needs overlap >= 2: agreement is measured between annotators")
        require(0 <= p.lease_seconds <= self.settings.max_lease_seconds,
                f"lease_seconds must be within [1, {self.settings.max_lease_seconds}] (0: default), "
                f"got {p.lease_seconds}")
        column = p.label_column or "label"
        require(column == column.strip() and len(column) <= 128,
                f"label_column {column!r} must be a plain column name of at most 128 characters")
        return LabelingParams(schema, overlap, p.consensus, p.min_coverage or 1.0, p.min_agreement,
                              p.lease_seconds or self.settings.lease_seconds, column, p.auto_finalize)

    def _create_job_in(self, s: Session, req: JobRequest, params: LabelingParams, origin: str,
                       cause_event_id: str) -> JobRow:
        data, dataset_schema = req.data, req.dataset_schema
        if data is None or not data.uri:
            dv = s.get(DatasetVersionRow, req.version_id)
            if dv is None:
                raise NotFound(f"dataset version {req.version_id!r} is unknown to labeling: pass its data artifact, "
                               "or ingest it so that DatasetIngested announces it")
            require(dv.dataset_id == req.dataset_id,
                    f"version {req.version_id} belongs to dataset {dv.dataset_id!r}, not {req.dataset_id!r}")
            data = Artifact(dv.uri, dv.sha256, dv.size_bytes, dv.media_type)
            dataset_schema = dataset_schema or dv.schema
        require(data.sha256, "data.sha256 is required: artifacts are read with checksum verification")
        ds = self._dataset(data)
        if ds.num_rows == 0:
            raise FailedPrecondition(f"dataset version {req.version_id} has no rows; nothing to label")
        if ds.is_image:
            require(params.label_column != "image", "label_column must not be 'image': it holds the images")
        gold = self._validated_gold(req.gold, params.schema, ds.num_rows)
        job_id = ids.new_id("lj")
        row = JobRow(
            job_id=job_id, project=req.project, dataset_id=req.dataset_id, version_id=req.version_id,
            params=_params_to_json(params), gold=json.dumps({str(i): _label_to_json(g) for i, g in gold.items()}),
            data_uri=data.uri, data_sha256=data.sha256, data_size=data.size_bytes, dataset_schema=dataset_schema,
            num_items=ds.num_rows, state=JobState.OPEN.value, origin=origin,
            correlation_id=req.correlation_id or str(uuid.uuid4()),
            cause_event_id=cause_event_id, created_at=utcnow())
        s.add(row)
        s.flush()
        tasks = [{"task_id": f"{job_id}-{i}-{k}", "job_id": job_id, "item_index": i, "slot": k, "state": PENDING}
                 for i in range(ds.num_rows) for k in range(params.overlap)]
        s.connection().execute(TaskRow.__table__.insert(), tasks)
        return row

    @staticmethod
    def _validated_gold(pairs, schema: LabelSchema, num_rows: int, known: dict | None = None) -> dict[int, Label]:
        gold: dict[int, Label] = {}
        for n, (item, g) in enumerate(pairs):
            require(0 <= item < num_rows, f"gold[{n}].item_index {item} is outside [0, {num_rows})")
            require(item not in gold and item not in (known or {}), f"gold[{n}]: item {item} appears twice")
            validate_label(schema, g, f"gold[{n}].label")
            gold[item] = g  # type: ignore[assignment] - validated above
        return gold

    def add_gold(self, job_id: str, pairs: Sequence[tuple[int, Label | None]]) -> int:
        """Add gold items to an open job; returns how many it now has."""
        require(len(pairs) > 0, "gold must not be empty")
        with self.store.session() as s:
            job = self._job_row(s, job_id)
            self._require_open(job)
            known = {int(i): v for i, v in json.loads(job.gold).items()}
            added = self._validated_gold(pairs, _params_from_json(job.params).schema, job.num_items, known)
            known.update({i: _label_to_json(g) for i, g in added.items()})
            job.gold = json.dumps({str(i): v for i, v in known.items()})
            return len(known)

    def _job_row(self, s: Session, job_id: str) -> JobRow:
        require(job_id.strip(), "job_id is required")
        return get_or_not_found(s, JobRow, job_id, "labeling job")

    @staticmethod
    def _require_open(job: JobRow) -> None:
        if job.state != JobState.OPEN.value:
            raise FailedPrecondition(f"labeling job {job.job_id} is already completed "
                                     f"(labeled version {job.labeled_version_id})")

    @staticmethod
    def _require_annotator(annotator_id: str) -> None:
        require(annotator_id.strip(), "annotator_id is required")
        require(len(annotator_id) <= MAX_ID, f"annotator_id must be at most {MAX_ID} characters")

    @staticmethod
    def _data(job: JobRow) -> Artifact:
        return Artifact(job.data_uri, job.data_sha256, job.data_size, events.PARQUET)

    @staticmethod
    def _job(row: JobRow) -> Job:
        labeled = (Artifact(row.labeled_uri, row.labeled_sha256, row.labeled_size, events.PARQUET)
                   if row.labeled_uri else None)
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)  # SQLite
        return Job(row.job_id, row.project, row.dataset_id, row.version_id, _params_from_json(row.params),
                   JobState(row.state), row.num_items, created, LabelingDomain._data(row), row.correlation_id,
                   row.labeled_version_id, labeled)

    def _dataset(self, data: Artifact) -> _Dataset:
        """The verified, parsed dataset version (cached by digest: content-addressed data never changes)."""
        with self._cache_lock:
            hit = self._cache.get(data.sha256)
            if hit is not None:
                self._cache.move_to_end(data.sha256)
                return hit
        raw = self.artifacts.read_bytes(data.uri, data.sha256)
        try:
            table = pq.read_table(pa.BufferReader(raw))
        except (pa.ArrowInvalid, OSError) as exc:
            raise FailedPrecondition(f"artifact {data.uri} is not a readable Parquet file: {exc}") from exc
        image = table.schema.get_field_index("image")
        is_image = image >= 0 and (pa.types.is_binary(table.schema.field(image).type)
                                   or pa.types.is_large_binary(table.schema.field(image).type))
        ds = _Dataset(table, is_image)
        with self._cache_lock:
            self._cache[data.sha256] = ds
            while len(self._cache) > max(1, self.settings.dataset_cache):
                self._cache.popitem(last=False)
        return ds

    @staticmethod
    def _payload(ds: _Dataset, item: int, label_column: str) -> tuple[bytes, str]:
        """PNG bytes for image items, and the rest of the row as JSON (without the label being made)."""
        row = ds.table.slice(item, 1).to_pylist()[0]
        png = b""
        if ds.is_image:
            png = _as_png(row.pop("image"), item)
        row.pop(label_column, None)
        return png, json.dumps(_jsonable(row), allow_nan=False)


def _as_png(raw: bytes | None, item: int) -> bytes:
    if not raw or raw.startswith(PNG_MAGIC):
        return raw or b""
    from PIL import Image, UnidentifiedImageError  # JPEG and friends are re-encoded for `image_png`

    try:
        with Image.open(io.BytesIO(raw)) as img:
            out = io.BytesIO()
            img.save(out, format="PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        raise FailedPrecondition(f"item {item}: the image is neither PNG nor a format Pillow reads") from exc
