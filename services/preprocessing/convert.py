"""gristmill.preprocessing.v1 messages <-> domain objects."""

from __future__ import annotations

from gristmill.common.v1 import common_pb2
from gristmill.preprocessing.v1 import preprocessing_pb2 as pb
from services.common.convert import artifact_ref, ts
from services.common.errors import InvalidArgument
from services.preprocessing import spec as sp
from services.preprocessing.models import FeatureSetRow, artifact_of

MISSING = {pb.MISSING_STRATEGY_UNSPECIFIED: "drop", pb.MISSING_STRATEGY_DROP: "drop",
           pb.MISSING_STRATEGY_MEAN: "mean", pb.MISSING_STRATEGY_MEDIAN: "median",
           pb.MISSING_STRATEGY_MODE: "mode", pb.MISSING_STRATEGY_CONSTANT: "constant"}
SCALING = {pb.SCALING_UNSPECIFIED: "none", pb.SCALING_NONE: "none", pb.SCALING_MINMAX: "minmax",
           pb.SCALING_STANDARD: "standard"}
ENCODING = {pb.ENCODING_UNSPECIFIED: "one_hot", pb.ENCODING_ONE_HOT: "one_hot", pb.ENCODING_ORDINAL: "ordinal"}
TEXT_REPAIR = {pb.TEXT_REPAIR_UNSPECIFIED: "repair", pb.TEXT_REPAIR_REPAIR: "repair", pb.TEXT_REPAIR_DROP: "drop"}
TASK = {common_pb2.TASK_UNSPECIFIED: "", common_pb2.TASK_CLASSIFICATION: "classification",
        common_pb2.TASK_REGRESSION: "regression", common_pb2.TASK_DETECTION: "detection",
        common_pb2.TASK_FORECASTING: "forecasting"}


def _enum(table: dict[int, str], value: int, field: str) -> str:
    if value not in table:
        raise InvalidArgument(f"{field} has an unknown value {value}")
    return table[value]


def _reverse(table: dict[int, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in table.items():
        if k:  # prefer the explicit value over UNSPECIFIED
            out.setdefault(v, k)
    return out


TASK_VALUE = _reverse(TASK)


def spec_from_proto(m: pb.FeatureSpec) -> sp.FeatureSpec:
    c, s, a = m.cleaning, m.split, m.augmentation
    return sp.FeatureSpec(
        project=m.project, label_column=m.label_column, task=_enum(TASK, m.task, "spec.task"),
        numeric_columns=list(m.numeric_columns), categorical_columns=list(m.categorical_columns),
        text_columns=list(m.text_columns), image_column=m.image_column, image_height=m.image_height,
        image_width=m.image_width,
        cleaning=sp.Cleaning(
            drop_exact_duplicates=c.drop_exact_duplicates, drop_near_duplicates=c.drop_near_duplicates,
            near_duplicate_decimals=c.near_duplicate_decimals,
            missing=_enum(MISSING, c.missing, "spec.cleaning.missing"), missing_constant=c.missing_constant,
            clip_outliers_iqr=c.clip_outliers_iqr, text=_enum(TEXT_REPAIR, c.text, "spec.cleaning.text"),
            drop_blank_images=c.drop_blank_images),
        scaling=_enum(SCALING, m.scaling, "spec.scaling"), encoding=_enum(ENCODING, m.encoding, "spec.encoding"),
        max_vocabulary=m.max_vocabulary, max_tokens=m.max_tokens,
        split=sp.Split(train=s.train, validation=s.validation, test=s.test, seed=s.seed, stratify=s.stratify),
        augmentation=sp.Augmentation(
            enabled=a.enabled, seed=a.seed,
            image=sp.ImageAugmentation(
                max_rotation_degrees=a.image.max_rotation_degrees, horizontal_flip=a.image.horizontal_flip,
                max_scale=a.image.max_scale, max_crop=a.image.max_crop, copies=a.image.copies),
            text=sp.TextAugmentation(
                replace_probability=a.text.replace_probability, insert_probability=a.text.insert_probability,
                delete_probability=a.text.delete_probability, copies=a.text.copies)),
    )


def spec_to_proto(s: sp.FeatureSpec) -> pb.FeatureSpec:
    c, a = s.cleaning, s.augmentation
    m = pb.FeatureSpec(
        project=s.project, label_column=s.label_column, task=TASK_VALUE.get(s.task, 0),
        numeric_columns=s.numeric_columns, categorical_columns=s.categorical_columns, text_columns=s.text_columns,
        image_column=s.image_column, image_height=s.image_height, image_width=s.image_width,
        cleaning=pb.Cleaning(
            drop_exact_duplicates=c.drop_exact_duplicates, drop_near_duplicates=c.drop_near_duplicates,
            near_duplicate_decimals=c.near_duplicate_decimals, missing=_reverse(MISSING)[c.missing],
            missing_constant=c.missing_constant, clip_outliers_iqr=c.clip_outliers_iqr,
            text=_reverse(TEXT_REPAIR)[c.text], drop_blank_images=c.drop_blank_images),
        scaling=_reverse(SCALING)[s.scaling], encoding=_reverse(ENCODING)[s.encoding],
        max_vocabulary=s.max_vocabulary, max_tokens=s.max_tokens,
        split=pb.Split(train=s.split.train, validation=s.split.validation, test=s.split.test, seed=s.split.seed,
                       stratify=s.split.stratify),
        augmentation=pb.Augmentation(
            enabled=a.enabled, seed=a.seed,
            image=pb.ImageAugmentation(max_rotation_degrees=a.image.max_rotation_degrees,
                                       horizontal_flip=a.image.horizontal_flip, max_scale=a.image.max_scale,
                                       max_crop=a.image.max_crop, copies=a.image.copies),
            text=pb.TextAugmentation(replace_probability=a.text.replace_probability,
                                     insert_probability=a.text.insert_probability,
                                     delete_probability=a.text.delete_probability, copies=a.text.copies)),
        revision=s.revision,
    )
    if s.updated_at is not None:
        m.updated_at.CopyFrom(ts(s.updated_at))
    return m


def feature_set_to_proto(row: FeatureSetRow) -> pb.FeatureSet:
    m = pb.FeatureSet(
        feature_set_id=row.feature_set_id, project=row.project, dataset_version_id=row.dataset_version_id,
        spec_revision=row.spec_revision, split_rows=row.split_rows, cleaning=pb.CleaningReport(**row.cleaning),
        augmented_rows=row.augmented_rows, task=TASK_VALUE.get(row.task, 0), input_shape=row.input_shape,
        num_classes=len(row.class_names), class_names=row.class_names, seconds=row.seconds,
    )
    for name in ("train", "validation", "test", "transform"):
        getattr(m, name).CopyFrom(artifact_ref(artifact_of(row.artifacts[name])))
    m.created_at.CopyFrom(ts(row.created_at))
    return m
