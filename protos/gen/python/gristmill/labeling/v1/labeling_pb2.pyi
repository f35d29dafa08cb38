import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gristmill.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LabelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_KIND_UNSPECIFIED: _ClassVar[LabelKind]
    LABEL_KIND_CLASS: _ClassVar[LabelKind]
    LABEL_KIND_NUMERIC: _ClassVar[LabelKind]
    LABEL_KIND_BOUNDING_BOX: _ClassVar[LabelKind]

class ConsensusMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENSUS_METHOD_UNSPECIFIED: _ClassVar[ConsensusMethod]
    CONSENSUS_METHOD_MAJORITY: _ClassVar[ConsensusMethod]
    CONSENSUS_METHOD_WEIGHTED: _ClassVar[ConsensusMethod]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_OPEN: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
LABEL_KIND_UNSPECIFIED: LabelKind
LABEL_KIND_CLASS: LabelKind
LABEL_KIND_NUMERIC: LabelKind
LABEL_KIND_BOUNDING_BOX: LabelKind
CONSENSUS_METHOD_UNSPECIFIED: ConsensusMethod
CONSENSUS_METHOD_MAJORITY: ConsensusMethod
CONSENSUS_METHOD_WEIGHTED: ConsensusMethod
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_OPEN: JobState
JOB_STATE_COMPLETED: JobState

class LabelSchema(_message.Message):
    __slots__ = ("kind", "classes", "min", "max")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    kind: LabelKind
    classes: _containers.RepeatedScalarFieldContainer[str]
    min: float
    max: float
    def __init__(self, kind: _Optional[_Union[LabelKind, str]] = ..., classes: _Optional[_Iterable[str]] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("label", "x_min", "y_min", "x_max", "y_max")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    label: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, label: _Optional[str] = ..., x_min: _Optional[float] = ..., y_min: _Optional[float] = ..., x_max: _Optional[float] = ..., y_max: _Optional[float] = ...) -> None: ...

class Label(_message.Message):
    __slots__ = ("class_name", "number", "boxes")
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    class_name: str
    number: float
    boxes: BoundingBoxes
    def __init__(self, class_name: _Optional[str] = ..., number: _Optional[float] = ..., boxes: _Optional[_Union[BoundingBoxes, _Mapping]] = ...) -> None: ...

class BoundingBoxes(_message.Message):
    __slots__ = ("boxes",)
    BOXES_FIELD_NUMBER: _ClassVar[int]
    boxes: _containers.RepeatedCompositeFieldContainer[BoundingBox]
    def __init__(self, boxes: _Optional[_Iterable[_Union[BoundingBox, _Mapping]]] = ...) -> None: ...

class GoldItem(_message.Message):
    __slots__ = ("item_index", "label")
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    item_index: int
    label: Label
    def __init__(self, item_index: _Optional[int] = ..., label: _Optional[_Union[Label, _Mapping]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("project", "dataset_id", "version_id", "schema", "overlap", "gold", "consensus", "min_coverage", "min_agreement", "lease_seconds", "label_column", "correlation_id", "auto_finalize", "data", "dataset_schema")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    MIN_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    AUTO_FINALIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DATASET_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    project: str
    dataset_id: str
    version_id: str
    schema: LabelSchema
    overlap: int
    gold: _containers.RepeatedCompositeFieldContainer[GoldItem]
    consensus: ConsensusMethod
    min_coverage: float
    min_agreement: float
    lease_seconds: int
    label_column: str
    correlation_id: str
    auto_finalize: bool
    data: _common_pb2.ArtifactRef
    dataset_schema: _common_pb2.Schema
    def __init__(self, project: _Optional[str] = ..., dataset_id: _Optional[str] = ..., version_id: _Optional[str] = ..., schema: _Optional[_Union[LabelSchema, _Mapping]] = ..., overlap: _Optional[int] = ..., gold: _Optional[_Iterable[_Union[GoldItem, _Mapping]]] = ..., consensus: _Optional[_Union[ConsensusMethod, str]] = ..., min_coverage: _Optional[float] = ..., min_agreement: _Optional[float] = ..., lease_seconds: _Optional[int] = ..., label_column: _Optional[str] = ..., correlation_id: _Optional[str] = ..., auto_finalize: _Optional[bool] = ..., data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., dataset_schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "project", "dataset_id", "version_id", "schema", "overlap", "consensus", "min_coverage", "min_agreement", "lease_seconds", "state", "num_items", "labeled_version_id", "created_at", "auto_finalize", "data", "labeled_data", "correlation_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    MIN_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NUM_ITEMS_FIELD_NUMBER: _ClassVar[int]
    LABELED_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    AUTO_FINALIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LABELED_DATA_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    project: str
    dataset_id: str
    version_id: str
    schema: LabelSchema
    overlap: int
    consensus: ConsensusMethod
    min_coverage: float
    min_agreement: float
    lease_seconds: int
    state: JobState
    num_items: int
    labeled_version_id: str
    created_at: _timestamp_pb2.Timestamp
    auto_finalize: bool
    data: _common_pb2.ArtifactRef
    labeled_data: _common_pb2.ArtifactRef
    correlation_id: str
    def __init__(self, job_id: _Optional[str] = ..., project: _Optional[str] = ..., dataset_id: _Optional[str] = ..., version_id: _Optional[str] = ..., schema: _Optional[_Union[LabelSchema, _Mapping]] = ..., overlap: _Optional[int] = ..., consensus: _Optional[_Union[ConsensusMethod, str]] = ..., min_coverage: _Optional[float] = ..., min_agreement: _Optional[float] = ..., lease_seconds: _Optional[int] = ..., state: _Optional[_Union[JobState, str]] = ..., num_items: _Optional[int] = ..., labeled_version_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., auto_finalize: _Optional[bool] = ..., data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., labeled_data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("task_id", "item_index", "image_png", "record_json", "suggestion", "suggestion_confidence", "lease_expires_at")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_PNG_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    item_index: int
    image_png: bytes
    record_json: str
    suggestion: Label
    suggestion_confidence: float
    lease_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, task_id: _Optional[str] = ..., item_index: _Optional[int] = ..., image_png: _Optional[bytes] = ..., record_json: _Optional[str] = ..., suggestion: _Optional[_Union[Label, _Mapping]] = ..., suggestion_confidence: _Optional[float] = ..., lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LeaseTasksRequest(_message.Message):
    __slots__ = ("job_id", "annotator_id", "max_tasks")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_TASKS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    annotator_id: str
    max_tasks: int
    def __init__(self, job_id: _Optional[str] = ..., annotator_id: _Optional[str] = ..., max_tasks: _Optional[int] = ...) -> None: ...

class LeaseTasksResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ...) -> None: ...

class SubmitAnnotationRequest(_message.Message):
    __slots__ = ("task_id", "annotator_id", "label")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    annotator_id: str
    label: Label
    def __init__(self, task_id: _Optional[str] = ..., annotator_id: _Optional[str] = ..., label: _Optional[_Union[Label, _Mapping]] = ...) -> None: ...

class SubmitAnnotationResponse(_message.Message):
    __slots__ = ("job_completed", "labeled_version_id")
    JOB_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    LABELED_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    job_completed: bool
    labeled_version_id: str
    def __init__(self, job_completed: _Optional[bool] = ..., labeled_version_id: _Optional[str] = ...) -> None: ...

class Prelabel(_message.Message):
    __slots__ = ("item_index", "label", "confidence")
    ITEM_INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    item_index: int
    label: Label
    confidence: float
    def __init__(self, item_index: _Optional[int] = ..., label: _Optional[_Union[Label, _Mapping]] = ..., confidence: _Optional[float] = ...) -> None: ...

class SetPrelabelsRequest(_message.Message):
    __slots__ = ("job_id", "prelabels")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PRELABELS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    prelabels: _containers.RepeatedCompositeFieldContainer[Prelabel]
    def __init__(self, job_id: _Optional[str] = ..., prelabels: _Optional[_Iterable[_Union[Prelabel, _Mapping]]] = ...) -> None: ...

class SetPrelabelsResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class GetJobStatsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class AnnotatorStats(_message.Message):
    __slots__ = ("annotator_id", "annotations", "gold_answered", "gold_accuracy")
    ANNOTATOR_ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    GOLD_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    GOLD_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    annotator_id: str
    annotations: int
    gold_answered: int
    gold_accuracy: float
    def __init__(self, annotator_id: _Optional[str] = ..., annotations: _Optional[int] = ..., gold_answered: _Optional[int] = ..., gold_accuracy: _Optional[float] = ...) -> None: ...

class PairKappa(_message.Message):
    __slots__ = ("annotator_a", "annotator_b", "cohen_kappa", "shared_items")
    ANNOTATOR_A_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_B_FIELD_NUMBER: _ClassVar[int]
    COHEN_KAPPA_FIELD_NUMBER: _ClassVar[int]
    SHARED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    annotator_a: str
    annotator_b: str
    cohen_kappa: float
    shared_items: int
    def __init__(self, annotator_a: _Optional[str] = ..., annotator_b: _Optional[str] = ..., cohen_kappa: _Optional[float] = ..., shared_items: _Optional[int] = ...) -> None: ...

class JobStats(_message.Message):
    __slots__ = ("num_items", "annotations", "coverage", "fleiss_kappa", "cohen", "annotators", "flagged_items", "thresholds_met", "covered_items")
    NUM_ITEMS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    FLEISS_KAPPA_FIELD_NUMBER: _ClassVar[int]
    COHEN_FIELD_NUMBER: _ClassVar[int]
    ANNOTATORS_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_MET_FIELD_NUMBER: _ClassVar[int]
    COVERED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    num_items: int
    annotations: int
    coverage: float
    fleiss_kappa: float
    cohen: _containers.RepeatedCompositeFieldContainer[PairKappa]
    annotators: _containers.RepeatedCompositeFieldContainer[AnnotatorStats]
    flagged_items: _containers.RepeatedScalarFieldContainer[int]
    thresholds_met: bool
    covered_items: int
    def __init__(self, num_items: _Optional[int] = ..., annotations: _Optional[int] = ..., coverage: _Optional[float] = ..., fleiss_kappa: _Optional[float] = ..., cohen: _Optional[_Iterable[_Union[PairKappa, _Mapping]]] = ..., annotators: _Optional[_Iterable[_Union[AnnotatorStats, _Mapping]]] = ..., flagged_items: _Optional[_Iterable[int]] = ..., thresholds_met: _Optional[bool] = ..., covered_items: _Optional[int] = ...) -> None: ...

class FinalizeJobRequest(_message.Message):
    __slots__ = ("job_id", "force")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    force: bool
    def __init__(self, job_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class LabelingPolicy(_message.Message):
    __slots__ = ("project", "schema", "overlap", "consensus", "min_coverage", "min_agreement", "lease_seconds", "label_column", "skip_if_labeled", "auto_finalize")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    MIN_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    SKIP_IF_LABELED_FIELD_NUMBER: _ClassVar[int]
    AUTO_FINALIZE_FIELD_NUMBER: _ClassVar[int]
    project: str
    schema: LabelSchema
    overlap: int
    consensus: ConsensusMethod
    min_coverage: float
    min_agreement: float
    lease_seconds: int
    label_column: str
    skip_if_labeled: bool
    auto_finalize: bool
    def __init__(self, project: _Optional[str] = ..., schema: _Optional[_Union[LabelSchema, _Mapping]] = ..., overlap: _Optional[int] = ..., consensus: _Optional[_Union[ConsensusMethod, str]] = ..., min_coverage: _Optional[float] = ..., min_agreement: _Optional[float] = ..., lease_seconds: _Optional[int] = ..., label_column: _Optional[str] = ..., skip_if_labeled: _Optional[bool] = ..., auto_finalize: _Optional[bool] = ...) -> None: ...

class PutPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: LabelingPolicy
    def __init__(self, policy: _Optional[_Union[LabelingPolicy, _Mapping]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class AddGoldItemsRequest(_message.Message):
    __slots__ = ("job_id", "gold")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    gold: _containers.RepeatedCompositeFieldContainer[GoldItem]
    def __init__(self, job_id: _Optional[str] = ..., gold: _Optional[_Iterable[_Union[GoldItem, _Mapping]]] = ...) -> None: ...

class AddGoldItemsResponse(_message.Message):
    __slots__ = ("gold_items",)
    GOLD_ITEMS_FIELD_NUMBER: _ClassVar[int]
    gold_items: int
    def __init__(self, gold_items: _Optional[int] = ...) -> None: ...
