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

class DeploymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_STATE_UNSPECIFIED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_PENDING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_READY: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_FAILED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_ROLLED_BACK: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_SUPERSEDED: _ClassVar[DeploymentState]
DEPLOYMENT_STATE_UNSPECIFIED: DeploymentState
DEPLOYMENT_STATE_PENDING: DeploymentState
DEPLOYMENT_STATE_READY: DeploymentState
DEPLOYMENT_STATE_FAILED: DeploymentState
DEPLOYMENT_STATE_ROLLED_BACK: DeploymentState
DEPLOYMENT_STATE_SUPERSEDED: DeploymentState

class Endpoint(_message.Message):
    __slots__ = ("deployment_id", "model_version_id", "rest_endpoint", "grpc_endpoint", "traffic_percent")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    REST_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    GRPC_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_PERCENT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    model_version_id: str
    rest_endpoint: str
    grpc_endpoint: str
    traffic_percent: int
    def __init__(self, deployment_id: _Optional[str] = ..., model_version_id: _Optional[str] = ..., rest_endpoint: _Optional[str] = ..., grpc_endpoint: _Optional[str] = ..., traffic_percent: _Optional[int] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("deployment_id", "project", "model_name", "model_version_id", "previous_model_version_id", "canary_percent", "state", "rest_endpoint", "grpc_endpoint", "message", "created_at", "endpoints", "previous_deployment_id", "evaluation_id", "mode", "updated_at")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REST_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    GRPC_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    project: str
    model_name: str
    model_version_id: str
    previous_model_version_id: str
    canary_percent: int
    state: DeploymentState
    rest_endpoint: str
    grpc_endpoint: str
    message: str
    created_at: _timestamp_pb2.Timestamp
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    previous_deployment_id: str
    evaluation_id: str
    mode: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, deployment_id: _Optional[str] = ..., project: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., previous_model_version_id: _Optional[str] = ..., canary_percent: _Optional[int] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., rest_endpoint: _Optional[str] = ..., grpc_endpoint: _Optional[str] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., previous_deployment_id: _Optional[str] = ..., evaluation_id: _Optional[str] = ..., mode: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("project", "model_name", "model_version_id", "canary_percent", "correlation_id", "model_card", "wait", "ready_timeout_seconds")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    READY_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    model_name: str
    model_version_id: str
    canary_percent: int
    correlation_id: str
    model_card: _common_pb2.ArtifactRef
    wait: bool
    ready_timeout_seconds: float
    def __init__(self, project: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version_id: _Optional[str] = ..., canary_percent: _Optional[int] = ..., correlation_id: _Optional[str] = ..., model_card: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., wait: _Optional[bool] = ..., ready_timeout_seconds: _Optional[float] = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class GetDeploymentRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token", "model_name")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    model_name: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., model_name: _Optional[str] = ...) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments", "next_page_token")
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    next_page_token: str
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RolloutPolicy(_message.Message):
    __slots__ = ("project", "model_name", "canary_percent", "manual_approval", "ready_timeout_seconds", "updated_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MANUAL_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    READY_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    model_name: str
    canary_percent: int
    manual_approval: bool
    ready_timeout_seconds: float
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, project: _Optional[str] = ..., model_name: _Optional[str] = ..., canary_percent: _Optional[int] = ..., manual_approval: _Optional[bool] = ..., ready_timeout_seconds: _Optional[float] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutRolloutPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: RolloutPolicy
    def __init__(self, policy: _Optional[_Union[RolloutPolicy, _Mapping]] = ...) -> None: ...

class GetRolloutPolicyRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...
