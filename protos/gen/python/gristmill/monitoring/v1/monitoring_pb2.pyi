import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gristmill.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ColumnDrift(_message.Message):
    __slots__ = ("column", "test", "score", "threshold", "drifted", "drift_when")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_FIELD_NUMBER: _ClassVar[int]
    DRIFT_WHEN_FIELD_NUMBER: _ClassVar[int]
    column: str
    test: str
    score: float
    threshold: float
    drifted: bool
    drift_when: str
    def __init__(self, column: _Optional[str] = ..., test: _Optional[str] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., drifted: _Optional[bool] = ..., drift_when: _Optional[str] = ...) -> None: ...

class DriftReport(_message.Message):
    __slots__ = ("report_id", "project", "model_name", "model_version_id", "columns", "drift_share", "dataset_drift", "window_rows", "html", "created_at", "feature_set_id", "reference_rows", "reduction", "seconds", "drift_share_threshold")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_SHARE_FIELD_NUMBER: _ClassVar[int]
    DATASET_DRIFT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ROWS_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ROWS_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_SHARE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    project: str
    model_name: str
    model_version_id: str
    columns: _containers.RepeatedCompositeFieldContainer[ColumnDrift]
    drift_share: float
    dataset_drift: bool
    window_rows: int
    html: _common_pb2.ArtifactRef
    created_at: _timestamp_pb2.Timestamp
    feature_set_id: str
    reference_rows: int
    reduction: str
    seconds: float
    drift_share_threshold: float
    def __init__(self, report_id: _Optional[str] = ..., project: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[ColumnDrift, _Mapping]]] = ..., drift_share: _Optional[float] = ..., dataset_drift: _Optional[bool] = ..., window_rows: _Optional[int] = ..., html: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., feature_set_id: _Optional[str] = ..., reference_rows: _Optional[int] = ..., reduction: _Optional[str] = ..., seconds: _Optional[float] = ..., drift_share_threshold: _Optional[float] = ...) -> None: ...

class GetDriftSummaryRequest(_message.Message):
    __slots__ = ("model_name",)
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    def __init__(self, model_name: _Optional[str] = ...) -> None: ...

class ListDriftReportsRequest(_message.Message):
    __slots__ = ("model_name", "page_size", "page_token")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    page_size: int
    page_token: str
    def __init__(self, model_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDriftReportsResponse(_message.Message):
    __slots__ = ("reports", "next_page_token")
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[DriftReport]
    next_page_token: str
    def __init__(self, reports: _Optional[_Iterable[_Union[DriftReport, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("request_id", "ground_truth")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GROUND_TRUTH_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    ground_truth: str
    def __init__(self, request_id: _Optional[str] = ..., ground_truth: _Optional[str] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("joined",)
    JOINED_FIELD_NUMBER: _ClassVar[int]
    joined: bool
    def __init__(self, joined: _Optional[bool] = ...) -> None: ...

class GetPerformanceRequest(_message.Message):
    __slots__ = ("model_name", "model_version_id")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version_id: str
    def __init__(self, model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ...) -> None: ...

class Performance(_message.Message):
    __slots__ = ("model_name", "model_version_id", "requests", "labeled", "accuracy", "mae", "latency_p50_ms", "latency_p99_ms", "throughput_rps", "cpu_percent", "memory_mb", "task", "resources_known")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    MAE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_RPS_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_KNOWN_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version_id: str
    requests: int
    labeled: int
    accuracy: float
    mae: float
    latency_p50_ms: float
    latency_p99_ms: float
    throughput_rps: float
    cpu_percent: float
    memory_mb: float
    task: str
    resources_known: bool
    def __init__(self, model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., requests: _Optional[int] = ..., labeled: _Optional[int] = ..., accuracy: _Optional[float] = ..., mae: _Optional[float] = ..., latency_p50_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., throughput_rps: _Optional[float] = ..., cpu_percent: _Optional[float] = ..., memory_mb: _Optional[float] = ..., task: _Optional[str] = ..., resources_known: _Optional[bool] = ...) -> None: ...

class AlertRules(_message.Message):
    __slots__ = ("project", "model_name", "max_drift_share", "min_accuracy", "max_mae", "window_size", "window_seconds", "retrain_on_drift")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_DRIFT_SHARE_FIELD_NUMBER: _ClassVar[int]
    MIN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    MAX_MAE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SIZE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RETRAIN_ON_DRIFT_FIELD_NUMBER: _ClassVar[int]
    project: str
    model_name: str
    max_drift_share: float
    min_accuracy: float
    max_mae: float
    window_size: int
    window_seconds: float
    retrain_on_drift: bool
    def __init__(self, project: _Optional[str] = ..., model_name: _Optional[str] = ..., max_drift_share: _Optional[float] = ..., min_accuracy: _Optional[float] = ..., max_mae: _Optional[float] = ..., window_size: _Optional[int] = ..., window_seconds: _Optional[float] = ..., retrain_on_drift: _Optional[bool] = ...) -> None: ...

class PutAlertRulesRequest(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: AlertRules
    def __init__(self, rules: _Optional[_Union[AlertRules, _Mapping]] = ...) -> None: ...

class GetAlertRulesRequest(_message.Message):
    __slots__ = ("project", "model_name")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    project: str
    model_name: str
    def __init__(self, project: _Optional[str] = ..., model_name: _Optional[str] = ...) -> None: ...

class RunDriftReportRequest(_message.Message):
    __slots__ = ("model_name", "max_rows")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    max_rows: int
    def __init__(self, model_name: _Optional[str] = ..., max_rows: _Optional[int] = ...) -> None: ...

class SetReferenceRequest(_message.Message):
    __slots__ = ("feature_set_id", "train", "model_version_id", "project", "task")
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    feature_set_id: str
    train: _common_pb2.ArtifactRef
    model_version_id: str
    project: str
    task: _common_pb2.Task
    def __init__(self, feature_set_id: _Optional[str] = ..., train: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., model_version_id: _Optional[str] = ..., project: _Optional[str] = ..., task: _Optional[_Union[_common_pb2.Task, str]] = ...) -> None: ...

class Reference(_message.Message):
    __slots__ = ("feature_set_id", "rows", "columns", "reduction", "sample")
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    feature_set_id: str
    rows: int
    columns: int
    reduction: str
    sample: _common_pb2.ArtifactRef
    def __init__(self, feature_set_id: _Optional[str] = ..., rows: _Optional[int] = ..., columns: _Optional[int] = ..., reduction: _Optional[str] = ..., sample: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...
