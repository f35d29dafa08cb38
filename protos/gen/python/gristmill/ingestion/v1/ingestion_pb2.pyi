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

class DataFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_FORMAT_UNSPECIFIED: _ClassVar[DataFormat]
    DATA_FORMAT_CSV: _ClassVar[DataFormat]
    DATA_FORMAT_PARQUET: _ClassVar[DataFormat]
    DATA_FORMAT_JSONL: _ClassVar[DataFormat]
    DATA_FORMAT_IMAGE_ZIP: _ClassVar[DataFormat]
    DATA_FORMAT_NPZ: _ClassVar[DataFormat]
DATA_FORMAT_UNSPECIFIED: DataFormat
DATA_FORMAT_CSV: DataFormat
DATA_FORMAT_PARQUET: DataFormat
DATA_FORMAT_JSONL: DataFormat
DATA_FORMAT_IMAGE_ZIP: DataFormat
DATA_FORMAT_NPZ: DataFormat

class Dataset(_message.Message):
    __slots__ = ("dataset_id", "project", "name", "description", "expected_schema", "created_at", "latest_version_id", "version_count")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    project: str
    name: str
    description: str
    expected_schema: _common_pb2.Schema
    created_at: _timestamp_pb2.Timestamp
    latest_version_id: str
    version_count: int
    def __init__(self, dataset_id: _Optional[str] = ..., project: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., expected_schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest_version_id: _Optional[str] = ..., version_count: _Optional[int] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("version_id", "dataset_id", "content_hash", "num_rows", "schema", "data", "source", "created_at", "labeled")
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    version_id: str
    dataset_id: str
    content_hash: str
    num_rows: int
    schema: _common_pb2.Schema
    data: _common_pb2.ArtifactRef
    source: str
    created_at: _timestamp_pb2.Timestamp
    labeled: bool
    def __init__(self, version_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., content_hash: _Optional[str] = ..., num_rows: _Optional[int] = ..., schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ..., data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., source: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., labeled: _Optional[bool] = ...) -> None: ...

class CreateDatasetRequest(_message.Message):
    __slots__ = ("project", "name", "description", "expected_schema")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    description: str
    expected_schema: _common_pb2.Schema
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., expected_schema: _Optional[_Union[_common_pb2.Schema, _Mapping]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    next_page_token: str
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("dataset_id", "upload_id", "format", "filename", "total_size", "sha256", "label_column", "correlation_id")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    upload_id: str
    format: DataFormat
    filename: str
    total_size: int
    sha256: str
    label_column: str
    correlation_id: str
    def __init__(self, dataset_id: _Optional[str] = ..., upload_id: _Optional[str] = ..., format: _Optional[_Union[DataFormat, str]] = ..., filename: _Optional[str] = ..., total_size: _Optional[int] = ..., sha256: _Optional[str] = ..., label_column: _Optional[str] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("offset", "data", "crc32")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    crc32: int
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32: _Optional[int] = ...) -> None: ...

class UploadDatasetRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    chunk: UploadChunk
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[_Union[UploadChunk, _Mapping]] = ...) -> None: ...

class GetUploadStatusRequest(_message.Message):
    __slots__ = ("upload_id",)
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    def __init__(self, upload_id: _Optional[str] = ...) -> None: ...

class UploadStatus(_message.Message):
    __slots__ = ("upload_id", "dataset_id", "acknowledged_offset", "total_size", "complete")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    dataset_id: str
    acknowledged_offset: int
    total_size: int
    complete: bool
    def __init__(self, upload_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., acknowledged_offset: _Optional[int] = ..., total_size: _Optional[int] = ..., complete: _Optional[bool] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("version", "deduplicated")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    deduplicated: bool
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class IngestFromUriRequest(_message.Message):
    __slots__ = ("dataset_id", "uri", "format", "label_column", "correlation_id")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    uri: str
    format: DataFormat
    label_column: str
    correlation_id: str
    def __init__(self, dataset_id: _Optional[str] = ..., uri: _Optional[str] = ..., format: _Optional[_Union[DataFormat, str]] = ..., label_column: _Optional[str] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class IngestSampleSetRequest(_message.Message):
    __slots__ = ("dataset_id", "name", "drop_labels", "correlation_id")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DROP_LABELS_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    name: str
    drop_labels: bool
    correlation_id: str
    def __init__(self, dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., drop_labels: _Optional[bool] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class IngestFromTopicRequest(_message.Message):
    __slots__ = ("dataset_id", "topic", "max_records", "max_seconds", "from_beginning", "correlation_id")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_BEGINNING_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    topic: str
    max_records: int
    max_seconds: float
    from_beginning: bool
    correlation_id: str
    def __init__(self, dataset_id: _Optional[str] = ..., topic: _Optional[str] = ..., max_records: _Optional[int] = ..., max_seconds: _Optional[float] = ..., from_beginning: _Optional[bool] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class GetDatasetVersionRequest(_message.Message):
    __slots__ = ("version_id",)
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    version_id: str
    def __init__(self, version_id: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsRequest(_message.Message):
    __slots__ = ("dataset_id", "page_size", "page_token")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    page_size: int
    page_token: str
    def __init__(self, dataset_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
