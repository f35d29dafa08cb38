import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gristmill.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventMeta(_message.Message):
    __slots__ = ("event_id", "occurred_at", "producer", "project", "correlation_id", "causation_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    producer: str
    project: str
    correlation_id: str
    causation_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., project: _Optional[str] = ..., correlation_id: _Optional[str] = ..., causation_id: _Optional[str] = ...) -> None: ...

class DatasetIngested(_message.Message):
    __slots__ = ("meta", "dataset_id", "version_id", "content_hash", "num_rows", "schema", "data", "labeled", "source")
    META_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    dataset_id: str
    version_id: str
    content_hash: str
    num_rows: int
    schema: _common_pb2.Schema
    data: _common_pb2.ArtifactRef
    labeled: bool
    source: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., dataset_id: _Optional[str] = ..., version_id: _Optional[str] = ..., content_hash: _Optional[str] = ..., num_rows: _Optional[int] = ..., schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., labeled: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...

class DatasetLabeled(_message.Message):
    __slots__ = ("meta", "job_id", "dataset_id", "source_version_id", "version_id", "num_rows", "schema", "data", "coverage", "fleiss_kappa", "skipped_labeling")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    FLEISS_KAPPA_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_LABELING_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    job_id: str
    dataset_id: str
    source_version_id: str
    version_id: str
    num_rows: int
    schema: _common_pb2.Schema
    data: _common_pb2.ArtifactRef
    coverage: float
    fleiss_kappa: float
    skipped_labeling: bool
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., job_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., source_version_id: _Optional[str] = ..., version_id: _Optional[str] = ..., num_rows: _Optional[int] = ..., schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., coverage: _Optional[float] = ..., fleiss_kappa: _Optional[float] = ..., skipped_labeling: _Optional[bool] = ...) -> None: ...

class FeaturesReady(_message.Message):
    __slots__ = ("meta", "feature_set_id", "dataset_version_id", "train", "validation", "test", "transform", "split_rows", "task", "input_shape", "num_classes")
    class SplitRowsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    SPLIT_ROWS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    feature_set_id: str
    dataset_version_id: str
    train: _common_pb2.ArtifactRef
    validation: _common_pb2.ArtifactRef
    test: _common_pb2.ArtifactRef
    transform: _common_pb2.ArtifactRef
    split_rows: _containers.ScalarMap[str, int]
    task: _common_pb2.Task
    input_shape: _containers.RepeatedScalarFieldContainer[int]
    num_classes: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., feature_set_id: _Optional[str] = ..., dataset_version_id: _Optional[str] = ..., train: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., validation: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., test: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., transform: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., split_rows: _Optional[_Mapping[str, int]] = ..., task: _Optional[_Union[_common_pb2.Task, str]] = ..., input_shape: _Optional[_Iterable[int]] = ..., num_classes: _Optional[int] = ...) -> None: ...

class ModelTrained(_message.Message):
    __slots__ = ("meta", "run_id", "model_version_id", "feature_set_id", "weights", "model_card", "metrics", "trigger")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    run_id: str
    model_version_id: str
    feature_set_id: str
    weights: _common_pb2.ArtifactRef
    model_card: _common_pb2.ArtifactRef
    metrics: _containers.ScalarMap[str, float]
    trigger: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., run_id: _Optional[str] = ..., model_version_id: _Optional[str] = ..., feature_set_id: _Optional[str] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., model_card: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., trigger: _Optional[str] = ...) -> None: ...

class ModelEvaluated(_message.Message):
    __slots__ = ("meta", "evaluation_id", "model_version_id", "feature_set_id", "passed", "reasons", "metrics", "baseline_model_version_id")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    evaluation_id: str
    model_version_id: str
    feature_set_id: str
    passed: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.ScalarMap[str, float]
    baseline_model_version_id: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., evaluation_id: _Optional[str] = ..., model_version_id: _Optional[str] = ..., feature_set_id: _Optional[str] = ..., passed: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., baseline_model_version_id: _Optional[str] = ...) -> None: ...

class ModelDeployed(_message.Message):
    __slots__ = ("meta", "deployment_id", "model_version_id", "model_name", "rest_endpoint", "grpc_endpoint", "canary_percent", "previous_model_version_id")
    META_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    REST_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    GRPC_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    deployment_id: str
    model_version_id: str
    model_name: str
    rest_endpoint: str
    grpc_endpoint: str
    canary_percent: int
    previous_model_version_id: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., deployment_id: _Optional[str] = ..., model_version_id: _Optional[str] = ..., model_name: _Optional[str] = ..., rest_endpoint: _Optional[str] = ..., grpc_endpoint: _Optional[str] = ..., canary_percent: _Optional[int] = ..., previous_model_version_id: _Optional[str] = ...) -> None: ...

class InferenceLogged(_message.Message):
    __slots__ = ("meta", "request_id", "model_name", "model_version_id", "features", "feature_shape", "outputs", "prediction", "latency_ms", "protocol")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SHAPE_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    request_id: str
    model_name: str
    model_version_id: str
    features: _containers.RepeatedScalarFieldContainer[float]
    feature_shape: _containers.RepeatedScalarFieldContainer[int]
    outputs: _containers.RepeatedScalarFieldContainer[float]
    prediction: str
    latency_ms: float
    protocol: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., request_id: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., features: _Optional[_Iterable[float]] = ..., feature_shape: _Optional[_Iterable[int]] = ..., outputs: _Optional[_Iterable[float]] = ..., prediction: _Optional[str] = ..., latency_ms: _Optional[float] = ..., protocol: _Optional[str] = ...) -> None: ...

class DriftDetected(_message.Message):
    __slots__ = ("meta", "report_id", "model_name", "model_version_id", "drift_share", "drifted_columns", "report")
    META_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    DRIFT_SHARE_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    report_id: str
    model_name: str
    model_version_id: str
    drift_share: float
    drifted_columns: _containers.RepeatedScalarFieldContainer[str]
    report: _common_pb2.ArtifactRef
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., report_id: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., drift_share: _Optional[float] = ..., drifted_columns: _Optional[_Iterable[str]] = ..., report: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...

class ModelDegraded(_message.Message):
    __slots__ = ("meta", "model_name", "model_version_id", "metric", "value", "threshold", "details")
    META_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    model_name: str
    model_version_id: str
    metric: str
    value: float
    threshold: float
    details: _struct_pb2.Struct
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
