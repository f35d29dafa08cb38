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

class MissingStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MISSING_STRATEGY_UNSPECIFIED: _ClassVar[MissingStrategy]
    MISSING_STRATEGY_DROP: _ClassVar[MissingStrategy]
    MISSING_STRATEGY_MEAN: _ClassVar[MissingStrategy]
    MISSING_STRATEGY_MEDIAN: _ClassVar[MissingStrategy]
    MISSING_STRATEGY_MODE: _ClassVar[MissingStrategy]
    MISSING_STRATEGY_CONSTANT: _ClassVar[MissingStrategy]

class Scaling(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALING_UNSPECIFIED: _ClassVar[Scaling]
    SCALING_NONE: _ClassVar[Scaling]
    SCALING_MINMAX: _ClassVar[Scaling]
    SCALING_STANDARD: _ClassVar[Scaling]

class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENCODING_UNSPECIFIED: _ClassVar[Encoding]
    ENCODING_ONE_HOT: _ClassVar[Encoding]
    ENCODING_ORDINAL: _ClassVar[Encoding]

class TextRepair(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_REPAIR_UNSPECIFIED: _ClassVar[TextRepair]
    TEXT_REPAIR_REPAIR: _ClassVar[TextRepair]
    TEXT_REPAIR_DROP: _ClassVar[TextRepair]
MISSING_STRATEGY_UNSPECIFIED: MissingStrategy
MISSING_STRATEGY_DROP: MissingStrategy
MISSING_STRATEGY_MEAN: MissingStrategy
MISSING_STRATEGY_MEDIAN: MissingStrategy
MISSING_STRATEGY_MODE: MissingStrategy
MISSING_STRATEGY_CONSTANT: MissingStrategy
SCALING_UNSPECIFIED: Scaling
SCALING_NONE: Scaling
SCALING_MINMAX: Scaling
SCALING_STANDARD: Scaling
ENCODING_UNSPECIFIED: Encoding
ENCODING_ONE_HOT: Encoding
ENCODING_ORDINAL: Encoding
TEXT_REPAIR_UNSPECIFIED: TextRepair
TEXT_REPAIR_REPAIR: TextRepair
TEXT_REPAIR_DROP: TextRepair

class Cleaning(_message.Message):
    __slots__ = ("drop_exact_duplicates", "drop_near_duplicates", "near_duplicate_decimals", "missing", "missing_constant", "clip_outliers_iqr", "text", "drop_blank_images")
    DROP_EXACT_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    DROP_NEAR_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    NEAR_DUPLICATE_DECIMALS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    MISSING_CONSTANT_FIELD_NUMBER: _ClassVar[int]
    CLIP_OUTLIERS_IQR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DROP_BLANK_IMAGES_FIELD_NUMBER: _ClassVar[int]
    drop_exact_duplicates: bool
    drop_near_duplicates: bool
    near_duplicate_decimals: float
    missing: MissingStrategy
    missing_constant: float
    clip_outliers_iqr: float
    text: TextRepair
    drop_blank_images: bool
    def __init__(self, drop_exact_duplicates: _Optional[bool] = ..., drop_near_duplicates: _Optional[bool] = ..., near_duplicate_decimals: _Optional[float] = ..., missing: _Optional[_Union[MissingStrategy, str]] = ..., missing_constant: _Optional[float] = ..., clip_outliers_iqr: _Optional[float] = ..., text: _Optional[_Union[TextRepair, str]] = ..., drop_blank_images: _Optional[bool] = ...) -> None: ...

class Split(_message.Message):
    __slots__ = ("train", "validation", "test", "seed", "stratify")
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STRATIFY_FIELD_NUMBER: _ClassVar[int]
    train: float
    validation: float
    test: float
    seed: int
    stratify: bool
    def __init__(self, train: _Optional[float] = ..., validation: _Optional[float] = ..., test: _Optional[float] = ..., seed: _Optional[int] = ..., stratify: _Optional[bool] = ...) -> None: ...

class ImageAugmentation(_message.Message):
    __slots__ = ("max_rotation_degrees", "horizontal_flip", "max_scale", "max_crop", "copies")
    MAX_ROTATION_DEGREES_FIELD_NUMBER: _ClassVar[int]
    HORIZONTAL_FLIP_FIELD_NUMBER: _ClassVar[int]
    MAX_SCALE_FIELD_NUMBER: _ClassVar[int]
    MAX_CROP_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    max_rotation_degrees: float
    horizontal_flip: bool
    max_scale: float
    max_crop: float
    copies: int
    def __init__(self, max_rotation_degrees: _Optional[float] = ..., horizontal_flip: _Optional[bool] = ..., max_scale: _Optional[float] = ..., max_crop: _Optional[float] = ..., copies: _Optional[int] = ...) -> None: ...

class TextAugmentation(_message.Message):
    __slots__ = ("replace_probability", "insert_probability", "delete_probability", "copies")
    REPLACE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    INSERT_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    DELETE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    COPIES_FIELD_NUMBER: _ClassVar[int]
    replace_probability: float
    insert_probability: float
    delete_probability: float
    copies: int
    def __init__(self, replace_probability: _Optional[float] = ..., insert_probability: _Optional[float] = ..., delete_probability: _Optional[float] = ..., copies: _Optional[int] = ...) -> None: ...

class Augmentation(_message.Message):
    __slots__ = ("enabled", "seed", "image", "text")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    seed: int
    image: ImageAugmentation
    text: TextAugmentation
    def __init__(self, enabled: _Optional[bool] = ..., seed: _Optional[int] = ..., image: _Optional[_Union[ImageAugmentation, _Mapping]] = ..., text: _Optional[_Union[TextAugmentation, _Mapping]] = ...) -> None: ...

class FeatureSpec(_message.Message):
    __slots__ = ("project", "label_column", "task", "numeric_columns", "categorical_columns", "text_columns", "image_column", "cleaning", "scaling", "encoding", "max_vocabulary", "max_tokens", "split", "augmentation", "revision", "updated_at", "image_height", "image_width")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    TEXT_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    CLEANING_FIELD_NUMBER: _ClassVar[int]
    SCALING_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    MAX_VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    AUGMENTATION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    project: str
    label_column: str
    task: _common_pb2.Task
    numeric_columns: _containers.RepeatedScalarFieldContainer[str]
    categorical_columns: _containers.RepeatedScalarFieldContainer[str]
    text_columns: _containers.RepeatedScalarFieldContainer[str]
    image_column: str
    cleaning: Cleaning
    scaling: Scaling
    encoding: Encoding
    max_vocabulary: int
    max_tokens: int
    split: Split
    augmentation: Augmentation
    revision: int
    updated_at: _timestamp_pb2.Timestamp
    image_height: int
    image_width: int
    def __init__(self, project: _Optional[str] = ..., label_column: _Optional[str] = ..., task: _Optional[_Union[_common_pb2.Task, str]] = ..., numeric_columns: _Optional[_Iterable[str]] = ..., categorical_columns: _Optional[_Iterable[str]] = ..., text_columns: _Optional[_Iterable[str]] = ..., image_column: _Optional[str] = ..., cleaning: _Optional[_Union[Cleaning, _Mapping]] = ..., scaling: _Optional[_Union[Scaling, str]] = ..., encoding: _Optional[_Union[Encoding, str]] = ..., max_vocabulary: _Optional[int] = ..., max_tokens: _Optional[int] = ..., split: _Optional[_Union[Split, _Mapping]] = ..., augmentation: _Optional[_Union[Augmentation, _Mapping]] = ..., revision: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., image_height: _Optional[int] = ..., image_width: _Optional[int] = ...) -> None: ...

class PutFeatureSpecRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: FeatureSpec
    def __init__(self, spec: _Optional[_Union[FeatureSpec, _Mapping]] = ...) -> None: ...

class GetFeatureSpecRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class BuildFeatureSetRequest(_message.Message):
    __slots__ = ("project", "dataset_version_id", "data", "correlation_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    dataset_version_id: str
    data: _common_pb2.ArtifactRef
    correlation_id: str
    def __init__(self, project: _Optional[str] = ..., dataset_version_id: _Optional[str] = ..., data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class CleaningReport(_message.Message):
    __slots__ = ("input_rows", "exact_duplicates", "near_duplicates", "missing_dropped", "missing_imputed", "outliers_clipped", "text_repaired", "text_dropped", "images_dropped", "output_rows")
    INPUT_ROWS_FIELD_NUMBER: _ClassVar[int]
    EXACT_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    NEAR_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    MISSING_DROPPED_FIELD_NUMBER: _ClassVar[int]
    MISSING_IMPUTED_FIELD_NUMBER: _ClassVar[int]
    OUTLIERS_CLIPPED_FIELD_NUMBER: _ClassVar[int]
    TEXT_REPAIRED_FIELD_NUMBER: _ClassVar[int]
    TEXT_DROPPED_FIELD_NUMBER: _ClassVar[int]
    IMAGES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ROWS_FIELD_NUMBER: _ClassVar[int]
    input_rows: int
    exact_duplicates: int
    near_duplicates: int
    missing_dropped: int
    missing_imputed: int
    outliers_clipped: int
    text_repaired: int
    text_dropped: int
    images_dropped: int
    output_rows: int
    def __init__(self, input_rows: _Optional[int] = ..., exact_duplicates: _Optional[int] = ..., near_duplicates: _Optional[int] = ..., missing_dropped: _Optional[int] = ..., missing_imputed: _Optional[int] = ..., outliers_clipped: _Optional[int] = ..., text_repaired: _Optional[int] = ..., text_dropped: _Optional[int] = ..., images_dropped: _Optional[int] = ..., output_rows: _Optional[int] = ...) -> None: ...

class FeatureSet(_message.Message):
    __slots__ = ("feature_set_id", "project", "dataset_version_id", "spec_revision", "train", "validation", "test", "transform", "split_rows", "cleaning", "augmented_rows", "task", "input_shape", "num_classes", "class_names", "created_at", "seconds")
    class SplitRowsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_REVISION_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    SPLIT_ROWS_FIELD_NUMBER: _ClassVar[int]
    CLEANING_FIELD_NUMBER: _ClassVar[int]
    AUGMENTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    feature_set_id: str
    project: str
    dataset_version_id: str
    spec_revision: int
    train: _common_pb2.ArtifactRef
    validation: _common_pb2.ArtifactRef
    test: _common_pb2.ArtifactRef
    transform: _common_pb2.ArtifactRef
    split_rows: _containers.ScalarMap[str, int]
    cleaning: CleaningReport
    augmented_rows: int
    task: _common_pb2.Task
    input_shape: _containers.RepeatedScalarFieldContainer[int]
    num_classes: int
    class_names: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    seconds: float
    def __init__(self, feature_set_id: _Optional[str] = ..., project: _Optional[str] = ..., dataset_version_id: _Optional[str] = ..., spec_revision: _Optional[int] = ..., train: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., validation: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., test: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., transform: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., split_rows: _Optional[_Mapping[str, int]] = ..., cleaning: _Optional[_Union[CleaningReport, _Mapping]] = ..., augmented_rows: _Optional[int] = ..., task: _Optional[_Union[_common_pb2.Task, str]] = ..., input_shape: _Optional[_Iterable[int]] = ..., num_classes: _Optional[int] = ..., class_names: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds: _Optional[float] = ...) -> None: ...

class GetFeatureSetRequest(_message.Message):
    __slots__ = ("feature_set_id",)
    FEATURE_SET_ID_FIELD_NUMBER: _ClassVar[int]
    feature_set_id: str
    def __init__(self, feature_set_id: _Optional[str] = ...) -> None: ...

class ListFeatureSetsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeatureSetsResponse(_message.Message):
    __slots__ = ("feature_sets", "next_page_token")
    FEATURE_SETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    feature_sets: _containers.RepeatedCompositeFieldContainer[FeatureSet]
    next_page_token: str
    def __init__(self, feature_sets: _Optional[_Iterable[_Union[FeatureSet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
