"""Schema inference and validation on Arrow tables (vectorised with pyarrow.compute)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from services.common.errors import InvalidArgument

# Names follow gristmill.common.v1.ColumnType without the prefix.
NUMERIC = {"int", "float"}


@dataclass
class Column:
    name: str
    type: str                     # int | float | bool | string | timestamp | binary | tensor
    required: bool = False
    min: float | None = None
    max: float | None = None
    shape: list[int] = field(default_factory=list)


@dataclass
class Schema:
    columns: list[Column]
    label_column: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Schema:
        return cls([Column(**c) for c in d.get("columns", [])], d.get("label_column", ""))

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t):
        return "tensor"
    return "string"


def infer(table: pa.Table, label_column: str = "") -> Schema:
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        kind = arrow_kind(col.type)
        c = Column(name=name, type=kind, required=col.null_count == 0)
        if kind in NUMERIC and col.null_count < len(col):
            mm = pc.min_max(col)
            c.min, c.max = float(mm["min"].as_py()), float(mm["max"].as_py())
        columns.append(c)
    return Schema(columns, label_column)


def validate(table: pa.Table, expected: Schema) -> None:
    """Raise InvalidArgument naming every column that breaks the expected schema."""
    problems = []
    for want in expected.columns:
        if want.name not in table.column_names:
            if want.required:
                problems.append(f"required column {want.name!r} is missing")
            continue
        col = table.column(want.name)
        got = arrow_kind(col.type)
        compatible = got == want.type or (want.type == "float" and got == "int")
        if not compatible:
            problems.append(f"column {want.name!r} has type {got}, expected {want.type}")
            continue
        if want.required and col.null_count:
            problems.append(f"required column {want.name!r} has {col.null_count} missing values")
        if got in NUMERIC and (want.min is not None or want.max is not None):
            below = int(pc.sum(pc.less(col, want.min)).as_py() or 0) if want.min is not None else 0
            above = int(pc.sum(pc.greater(col, want.max)).as_py() or 0) if want.max is not None else 0
            if below or above:
                problems.append(f"column {want.name!r} has {below + above} values outside "
                                f"[{want.min}, {want.max}]")
    if problems:
        raise InvalidArgument("schema mismatch: " + "; ".join(problems))
