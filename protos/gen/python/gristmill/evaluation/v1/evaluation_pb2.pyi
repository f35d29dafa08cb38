import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluateRequest(_message.Message):
    __slots__ = ("project", "model_version_id", "correlation_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    model_version_id: str
    correlation_id: str
    def __init__(self, project: _Optional[str] = ..., model_version_id: _Optional[str] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class Diagnosis(_message.Message):
    __slots__ = ("verdict", "evidence", "recommendations")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    verdict: str
    evidence: _containers.RepeatedScalarFieldContainer[str]
    recommendations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, verdict: _Optional[str] = ..., evidence: _Optional[_Iterable[str]] = ..., recommendations: _Optional[_Iterable[str]] = ...) -> None: ...

class SplitMetrics(_message.Message):
    __slots__ = ("split", "metrics", "confusion_matrix", "num_classes")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CONFUSION_MATRIX_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    split: str
    metrics: _containers.ScalarMap[str, float]
    confusion_matrix: _containers.RepeatedScalarFieldContainer[int]
    num_classes: int
    def __init__(self, split: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., confusion_matrix: _Optional[_Iterable[int]] = ..., num_classes: _Optional[int] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("evaluation_id", "project", "model_version_id", "splits", "diagnosis", "passed", "reasons", "gate_metric", "baseline_model_version_id", "created_at", "feature_set_id", "candidate_value", "baseline_value", "trigger", "gate_split")
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    GATE_METRIC_FIELD_NUMBER: _ClassVar[int]
    BASELINE_MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_VALUE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    GATE_SPLIT_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    project: str
    model_version_id: str
    splits: _containers.RepeatedCompositeFieldContainer[SplitMetrics]
    diagnosis: Diagnosis
    passed: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    gate_metric: str
    baseline_model_version_id: str
    created_at: _timestamp_pb2.Timestamp
    feature_set_id: str
    candidate_value: float
    baseline_value: float
    trigger: str
    gate_split: str
    def __init__(self, evaluation_id: _Optional[str] = ..., project: _Optional[str] = ..., model_version_id: _Optional[str] = ..., splits: _Optional[_Iterable[_Union[SplitMetrics, _Mapping]]] = ..., diagnosis: _Optional[_Union[Diagnosis, _Mapping]] = ..., passed: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., gate_metric: _Optional[str] = ..., baseline_model_version_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., feature_set_id: _Optional[str] = ..., candidate_value: _Optional[float] = ..., baseline_value: _Optional[float] = ..., trigger: _Optional[str] = ..., gate_split: _Optional[str] = ...) -> None: ...

class GetEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    def __init__(self, evaluation_id: _Optional[str] = ...) -> None: ...

class ListEvaluationsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEvaluationsResponse(_message.Message):
    __slots__ = ("evaluations", "next_page_token")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    next_page_token: str
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StartStudyRequest(_message.Message):
    __slots__ = ("project", "feature_set_id", "space", "sampler", "trials", "parallelism", "metric", "architecture", "base", "direction", "pruner", "seed")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    PRUNER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    project: str
    feature_set_id: str
    space: _struct_pb2.Struct
    sampler: str
    trials: int
    parallelism: int
    metric: str
    architecture: str
    base: _struct_pb2.Struct
    direction: str
    pruner: str
    seed: int
    def __init__(self, project: _Optional[str] = ..., feature_set_id: _Optional[str] = ..., space: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sampler: _Optional[str] = ..., trials: _Optional[int] = ..., parallelism: _Optional[int] = ..., metric: _Optional[str] = ..., architecture: _Optional[str] = ..., base: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., direction: _Optional[str] = ..., pruner: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("number", "params", "value", "state", "run_id", "intermediate", "model_version_id", "message")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    number: int
    params: _struct_pb2.Struct
    value: float
    state: str
    run_id: str
    intermediate: _containers.RepeatedScalarFieldContainer[float]
    model_version_id: str
    message: str
    def __init__(self, number: _Optional[int] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., value: _Optional[float] = ..., state: _Optional[str] = ..., run_id: _Optional[str] = ..., intermediate: _Optional[_Iterable[float]] = ..., model_version_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("study_id", "state", "trials", "best_trial", "best_params", "project", "feature_set_id", "metric", "direction", "sampler", "best_value", "message", "created_at", "parallelism")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    BEST_TRIAL_FIELD_NUMBER: _ClassVar[int]
    BEST_PARAMS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    BEST_VALUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    state: str
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    best_trial: int
    best_params: _struct_pb2.Struct
    project: str
    feature_set_id: str
    metric: str
    direction: str
    sampler: str
    best_value: float
    message: str
    created_at: _timestamp_pb2.Timestamp
    parallelism: int
    def __init__(self, study_id: _Optional[str] = ..., state: _Optional[str] = ..., trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ..., best_trial: _Optional[int] = ..., best_params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., project: _Optional[str] = ..., feature_set_id: _Optional[str] = ..., metric: _Optional[str] = ..., direction: _Optional[str] = ..., sampler: _Optional[str] = ..., best_value: _Optional[float] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parallelism: _Optional[int] = ...) -> None: ...

class GetStudyRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class GatePolicy(_message.Message):
    __slots__ = ("project", "metric", "split", "direction", "threshold", "min_improvement", "ignore_live", "skip_auto_evaluate", "block_on_overfitting", "revision", "updated_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    IGNORE_LIVE_FIELD_NUMBER: _ClassVar[int]
    SKIP_AUTO_EVALUATE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ON_OVERFITTING_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    metric: str
    split: str
    direction: str
    threshold: float
    min_improvement: float
    ignore_live: bool
    skip_auto_evaluate: bool
    block_on_overfitting: bool
    revision: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, project: _Optional[str] = ..., metric: _Optional[str] = ..., split: _Optional[str] = ..., direction: _Optional[str] = ..., threshold: _Optional[float] = ..., min_improvement: _Optional[float] = ..., ignore_live: _Optional[bool] = ..., skip_auto_evaluate: _Optional[bool] = ..., block_on_overfitting: _Optional[bool] = ..., revision: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutGatePolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: GatePolicy
    def __init__(self, policy: _Optional[_Union[GatePolicy, _Mapping]] = ...) -> None: ...

class GetGatePolicyRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...
