"""Feature specs: the domain form of gristmill.preprocessing.v1.FeatureSpec, with validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import InvalidArgument

MISSING = ("drop", "mean", "median", "mode", "constant")
SCALING = ("none", "minmax", "standard")
ENCODING = ("one_hot", "ordinal")
TEXT_REPAIR = ("repair", "drop")
TASKS = ("", "classification", "regression")   # "" = inferred from the label column
UNSUPPORTED_TASKS = ("detection", "forecasting")

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
DEFAULT_NEAR_DECIMALS = 2
DEFAULT_MAX_VOCABULARY = 10_000
DEFAULT_MAX_TOKENS = 64
MAX_COPIES = 20


@dataclass
class Cleaning:
    drop_exact_duplicates: bool = False
    drop_near_duplicates: bool = False
    near_duplicate_decimals: float = DEFAULT_NEAR_DECIMALS
    missing: str = "drop"
    missing_constant: float = 0.0
    clip_outliers_iqr: float = 0.0       # 0 = off
    text: str = "repair"
    drop_blank_images: bool = False


@dataclass
class Split:
    train: float = DEFAULT_FRACTIONS[0]
    validation: float = DEFAULT_FRACTIONS[1]
    test: float = DEFAULT_FRACTIONS[2]
    seed: int = 0
    stratify: bool = False


@dataclass
class ImageAugmentation:
    max_rotation_degrees: float = 0.0
    horizontal_flip: bool = False
    max_scale: float = 0.0
    max_crop: float = 0.0
    copies: int = 0

    @property
    def active(self) -> bool:
        return bool(self.max_rotation_degrees or self.horizontal_flip or self.max_scale or self.max_crop)


@dataclass
class TextAugmentation:
    replace_probability: float = 0.0
    insert_probability: float = 0.0
    delete_probability: float = 0.0
    copies: int = 0

    @property
    def active(self) -> bool:
        return bool(self.replace_probability or self.insert_probability or self.delete_probability)


@dataclass
class Augmentation:
    enabled: bool = False
    seed: int = 0
    image: ImageAugmentation = field(default_factory=ImageAugmentation)
    text: TextAugmentation = field(default_factory=TextAugmentation)


@dataclass
class FeatureSpec:
    project: str
    label_column: str = ""
    task: str = ""
    numeric_columns: list[str] = field(default_factory=list)
    categorical_columns: list[str] = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    image_column: str = ""
    image_height: int = 0
    image_width: int = 0
    cleaning: Cleaning = field(default_factory=Cleaning)
    scaling: str = "none"
    encoding: str = "one_hot"
    max_vocabulary: int = DEFAULT_MAX_VOCABULARY
    max_tokens: int = DEFAULT_MAX_TOKENS
    split: Split = field(default_factory=Split)
    augmentation: Augmentation = field(default_factory=Augmentation)
    revision: int = 0
    updated_at: dt.datetime | None = None

    @property
    def feature_columns(self) -> list[str]:
        return [*self.numeric_columns, *self.categorical_columns, *self.text_columns]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("updated_at")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], updated_at: dt.datetime | None = None) -> FeatureSpec:
        d = dict(d)
        d["cleaning"] = Cleaning(**d.get("cleaning", {}))
        d["split"] = Split(**d.get("split", {}))
        aug = dict(d.get("augmentation", {}))
        aug["image"] = ImageAugmentation(**aug.get("image", {}))
        aug["text"] = TextAugmentation(**aug.get("text", {}))
        d["augmentation"] = Augmentation(**aug)
        d["updated_at"] = updated_at
        return cls(**d)

    def normalized(self) -> FeatureSpec:
        """Validate, then fill the defaults that proto3 zeros stand for."""
        validate(self)
        s = dataclasses.replace(self, cleaning=dataclasses.replace(self.cleaning),
                                split=dataclasses.replace(self.split))
        if s.split.train == s.split.validation == s.split.test == 0:
            s.split.train, s.split.validation, s.split.test = DEFAULT_FRACTIONS
        if s.cleaning.near_duplicate_decimals == 0:
            s.cleaning.near_duplicate_decimals = DEFAULT_NEAR_DECIMALS
        s.max_vocabulary = s.max_vocabulary or DEFAULT_MAX_VOCABULARY
        s.max_tokens = s.max_tokens or DEFAULT_MAX_TOKENS
        return s


def _fraction(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0 or value > 1:
        raise InvalidArgument(f"{name} must be within [0, 1], got {value}")


def validate(spec: FeatureSpec) -> None:
    """Everything that can be checked without the data; raises InvalidArgument with what to fix."""
    if not spec.project.strip():
        raise InvalidArgument("spec.project is required")
    if spec.task in UNSUPPORTED_TASKS:
        raise InvalidArgument(f"task {spec.task!r} is not supported by preprocessing; use classification or regression")
    if spec.task not in TASKS:
        raise InvalidArgument(f"unknown task {spec.task!r}")
    for name, value, allowed in (("cleaning.missing", spec.cleaning.missing, MISSING),
                                 ("scaling", spec.scaling, SCALING), ("encoding", spec.encoding, ENCODING),
                                 ("cleaning.text", spec.cleaning.text, TEXT_REPAIR)):
        if value not in allowed:
            raise InvalidArgument(f"{name} must be one of {list(allowed)}, got {value!r}")

    seen: dict[str, str] = {}
    for kind, cols in (("numeric_columns", spec.numeric_columns), ("categorical_columns", spec.categorical_columns),
                       ("text_columns", spec.text_columns)):
        for c in cols:
            if not c:
                raise InvalidArgument(f"{kind} holds an empty column name")
            if c in seen:
                where = kind if seen[c] == kind else f"both {seen[c]} and {kind}"
                raise InvalidArgument(f"column {c!r} is listed twice ({where})")
            seen[c] = kind
    if spec.label_column and spec.label_column in seen:
        raise InvalidArgument(f"label column {spec.label_column!r} is also listed in {seen[spec.label_column]}")
    if spec.image_column:
        if seen:
            raise InvalidArgument("an image feature set takes only image_column; remove numeric, categorical "
                                  f"and text columns ({sorted(seen)})")
        if spec.image_column == spec.label_column:
            raise InvalidArgument(f"image_column and label_column are both {spec.image_column!r}")
    if spec.image_height < 0 or spec.image_width < 0:
        raise InvalidArgument("image_height and image_width must not be negative")
    if (spec.image_height == 0) != (spec.image_width == 0):
        raise InvalidArgument("set both image_height and image_width, or neither (0: the most common size)")
    if max(spec.image_height, spec.image_width) > 4096:
        raise InvalidArgument("image_height and image_width must be at most 4096")

    c = spec.cleaning
    if not math.isfinite(c.near_duplicate_decimals) or not 0 <= c.near_duplicate_decimals <= 12 \
            or c.near_duplicate_decimals != int(c.near_duplicate_decimals):
        raise InvalidArgument(f"cleaning.near_duplicate_decimals must be a whole number in [0, 12], "
                              f"got {c.near_duplicate_decimals}")
    if not math.isfinite(c.clip_outliers_iqr) or c.clip_outliers_iqr < 0:
        raise InvalidArgument(f"cleaning.clip_outliers_iqr must be >= 0 (0 = off), got {c.clip_outliers_iqr}")
    if not math.isfinite(c.missing_constant):
        raise InvalidArgument("cleaning.missing_constant must be a finite number")

    if spec.max_vocabulary < 0:
        raise InvalidArgument(f"max_vocabulary must not be negative, got {spec.max_vocabulary}")
    if not 0 <= spec.max_tokens <= 4096:
        raise InvalidArgument(f"max_tokens must be within [0, 4096] (0 = {DEFAULT_MAX_TOKENS}), got {spec.max_tokens}")

    sp = spec.split
    fr = {"split.train": sp.train, "split.validation": sp.validation, "split.test": sp.test}
    for name, value in fr.items():
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(f"{name} must not be negative, got {value}")
    total = sum(fr.values())
    if total != 0:  # all zero = the defaults
        if abs(total - 1) > 1e-6:
            raise InvalidArgument(f"split fractions must sum to 1 (train {sp.train} + validation {sp.validation}"
                                  f" + test {sp.test} = {total:g})")
        if sp.train <= 0:
            raise InvalidArgument("split.train must be greater than 0")

    a = spec.augmentation
    ia, ta = a.image, a.text
    if not math.isfinite(ia.max_rotation_degrees) or not 0 <= ia.max_rotation_degrees <= 180:
        raise InvalidArgument(f"augmentation.image.max_rotation_degrees must be within [0, 180], "
                              f"got {ia.max_rotation_degrees}")
    for name, value in (("augmentation.image.max_scale", ia.max_scale), ("augmentation.image.max_crop", ia.max_crop)):
        if not math.isfinite(value) or not 0 <= value < 1:
            raise InvalidArgument(f"{name} must be within [0, 1), got {value}")
    for name, value in (("augmentation.text.replace_probability", ta.replace_probability),
                        ("augmentation.text.insert_probability", ta.insert_probability),
                        ("augmentation.text.delete_probability", ta.delete_probability)):
        _fraction(name, value)
    for name, value in (("augmentation.image.copies", ia.copies), ("augmentation.text.copies", ta.copies)):
        if not 0 <= value <= MAX_COPIES:
            raise InvalidArgument(f"{name} must be within [0, {MAX_COPIES}] (0 = 1 when active), got {value}")
