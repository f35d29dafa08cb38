import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gristmill.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_QUEUED: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_QUEUED: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_CANCELLED: RunState

class ModelSpec(_message.Message):
    __slots__ = ("architecture", "params", "finetune_from", "freeze", "new_head")
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FINETUNE_FROM_FIELD_NUMBER: _ClassVar[int]
    FREEZE_FIELD_NUMBER: _ClassVar[int]
    NEW_HEAD_FIELD_NUMBER: _ClassVar[int]
    architecture: str
    params: _struct_pb2.Struct
    finetune_from: str
    freeze: _containers.RepeatedScalarFieldContainer[str]
    new_head: bool
    def __init__(self, architecture: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., finetune_from: _Optional[str] = ..., freeze: _Optional[_Iterable[str]] = ..., new_head: _Optional[bool] = ...) -> None: ...

class TrainingParams(_message.Message):
    __slots__ = ("learning_rate", "epochs", "batch_size", "optimizer", "momentum", "weight_decay", "early_stopping_patience", "lr_schedule", "seed")
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_PATIENCE_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    learning_rate: float
    epochs: int
    batch_size: int
    optimizer: str
    momentum: float
    weight_decay: float
    early_stopping_patience: int
    lr_schedule: str
    seed: int
    def __init__(self, learning_rate: _Optional[float] = ..., epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., optimizer: _Optional[str] = ..., momentum: _Optional[float] = ..., weight_decay: _Optional[float] = ..., early_stopping_patience: _Optional[int] = ..., lr_schedule: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class TrainingSpec(_message.Message):
    __slots__ = ("project", "feature_set_id", "model", "params", "correlation_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    feature_set_id: str
    model: ModelSpec
    params: TrainingParams
    correlation_id: str
    def __init__(self, project: _Optional[str] = ..., feature_set_id: _Optional[str] = ..., model: _Optional[_Union[ModelSpec, _Mapping]] = ..., params: _Optional[_Union[TrainingParams, _Mapping]] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "spec", "state", "message", "epochs_done", "model_version_id", "trigger", "kfp_run_id", "created_at", "finished_at", "resumed_from_epoch", "attempts", "started_at", "executor")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_DONE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    KFP_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    spec: TrainingSpec
    state: RunState
    message: str
    epochs_done: int
    model_version_id: str
    trigger: str
    kfp_run_id: str
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    resumed_from_epoch: int
    attempts: int
    started_at: _timestamp_pb2.Timestamp
    executor: str
    def __init__(self, run_id: _Optional[str] = ..., spec: _Optional[_Union[TrainingSpec, _Mapping]] = ..., state: _Optional[_Union[RunState, str]] = ..., message: _Optional[str] = ..., epochs_done: _Optional[int] = ..., model_version_id: _Optional[str] = ..., trigger: _Optional[str] = ..., kfp_run_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resumed_from_epoch: _Optional[int] = ..., attempts: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., executor: _Optional[str] = ...) -> None: ...

class EpochMetrics(_message.Message):
    __slots__ = ("run_id", "epoch", "train_loss", "val_loss", "train_metric", "val_metric", "metric_name", "learning_rate", "seconds")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    VAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_METRIC_FIELD_NUMBER: _ClassVar[int]
    VAL_METRIC_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    epoch: int
    train_loss: float
    val_loss: float
    train_metric: float
    val_metric: float
    metric_name: str
    learning_rate: float
    seconds: float
    def __init__(self, run_id: _Optional[str] = ..., epoch: _Optional[int] = ..., train_loss: _Optional[float] = ..., val_loss: _Optional[float] = ..., train_metric: _Optional[float] = ..., val_metric: _Optional[float] = ..., metric_name: _Optional[str] = ..., learning_rate: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("model_version_id", "project", "run_id", "feature_set_id", "task", "architecture", "weights", "model_card", "curve_plot", "metrics", "created_at", "transform", "dataset_version_id", "finetuned_from", "trigger")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    CURVE_PLOT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    FINETUNED_FROM_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    model_version_id: str
    project: str
    run_id: str
    feature_set_id: str
    task: _common_pb2.Task
    architecture: str
    weights: _common_pb2.ArtifactRef
    model_card: _common_pb2.ArtifactRef
    curve_plot: _common_pb2.ArtifactRef
    metrics: _containers.ScalarMap[str, float]
    created_at: _timestamp_pb2.Timestamp
    transform: _common_pb2.ArtifactRef
    dataset_version_id: str
    finetuned_from: str
    trigger: str
    def __init__(self, model_version_id: _Optional[str] = ..., project: _Optional[str] = ..., run_id: _Optional[str] = ..., feature_set_id: _Optional[str] = ..., task: _Optional[_Union[_common_pb2.Task, str]] = ..., architecture: _Optional[str] = ..., weights: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., model_card: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., curve_plot: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transform: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., dataset_version_id: _Optional[str] = ..., finetuned_from: _Optional[str] = ..., trigger: _Optional[str] = ...) -> None: ...

class SubmitRunRequest(_message.Message):
    __slots__ = ("spec", "trigger")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    spec: TrainingSpec
    trigger: str
    def __init__(self, spec: _Optional[_Union[TrainingSpec, _Mapping]] = ..., trigger: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class StreamRunMetricsRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetModelVersionRequest(_message.Message):
    __slots__ = ("model_version_id",)
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    model_version_id: str
    def __init__(self, model_version_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListModelVersionsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelVersionsResponse(_message.Message):
    __slots__ = ("model_versions", "next_page_token")
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    next_page_token: str
    def __init__(self, model_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TrainingPolicy(_message.Message):
    __slots__ = ("project", "auto_train", "retrain_on_drift", "retrain_pending", "model", "params", "revision", "updated_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    AUTO_TRAIN_FIELD_NUMBER: _ClassVar[int]
    RETRAIN_ON_DRIFT_FIELD_NUMBER: _ClassVar[int]
    RETRAIN_PENDING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    auto_train: bool
    retrain_on_drift: bool
    retrain_pending: bool
    model: ModelSpec
    params: TrainingParams
    revision: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, project: _Optional[str] = ..., auto_train: _Optional[bool] = ..., retrain_on_drift: _Optional[bool] = ..., retrain_pending: _Optional[bool] = ..., model: _Optional[_Union[ModelSpec, _Mapping]] = ..., params: _Optional[_Union[TrainingParams, _Mapping]] = ..., revision: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutTrainingPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: TrainingPolicy
    def __init__(self, policy: _Optional[_Union[TrainingPolicy, _Mapping]] = ...) -> None: ...

class GetTrainingPolicyRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...
