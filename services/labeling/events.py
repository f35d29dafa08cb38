"""Events of the labeling service.

Consumes `DatasetIngested` (handled by `LabelingDomain.on_dataset_ingested`, wired in server.py) and
emits `DatasetLabeled`, built here. The labeled dataset's schema is the source schema plus the label
column: STRING for class names and for boxes (a JSON list), FLOAT for numeric targets.
"""

from __future__ import annotations

import pyarrow as pa

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from services.common import bus
from services.common.artifacts import Artifact
from services.common.convert import artifact_ref

PRODUCER = "labeling"
PARQUET = "application/vnd.apache.parquet"

__all__ = ["PARQUET", "PRODUCER", "arrow_column_type", "dataset_labeled", "labeled_schema", "meta"]


def meta(project: str, correlation_id: str = "", cause_event_id: str = "") -> ev.EventMeta:
    """Metadata for an event of this service; the correlation id and cause carry forward."""
    cause = ev.EventMeta(event_id=cause_event_id, correlation_id=correlation_id) if cause_event_id else None
    return bus.new_meta(PRODUCER, project, correlation_id, causation=cause)


def arrow_column_type(t: pa.DataType) -> int:
    if pa.types.is_boolean(t):
        return common_pb2.COLUMN_TYPE_BOOL
    if pa.types.is_integer(t):
        return common_pb2.COLUMN_TYPE_INT
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return common_pb2.COLUMN_TYPE_FLOAT
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return common_pb2.COLUMN_TYPE_STRING
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return common_pb2.COLUMN_TYPE_TIMESTAMP
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return common_pb2.COLUMN_TYPE_BINARY
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return common_pb2.COLUMN_TYPE_TENSOR
    return common_pb2.COLUMN_TYPE_UNSPECIFIED


def labeled_schema(source: bytes, arrow_schema: pa.Schema, label_column: str, numeric: bool,
                   all_labeled: bool) -> common_pb2.Schema:
    """The source schema (or one read off the Parquet when unknown) with `label_column` set."""
    schema = common_pb2.Schema()
    if source:
        schema.ParseFromString(source)
    if not schema.columns:
        for f in arrow_schema:
            schema.columns.add(name=f.name, type=arrow_column_type(f.type), required=not f.nullable)
    kept = [c for c in schema.columns if c.name != label_column]
    del schema.columns[:]
    schema.columns.extend(kept)
    schema.columns.add(name=label_column, required=all_labeled,
                       type=common_pb2.COLUMN_TYPE_FLOAT if numeric else common_pb2.COLUMN_TYPE_STRING)
    schema.label_column = label_column
    return schema


def dataset_labeled(meta: ev.EventMeta, *, job_id: str, dataset_id: str, source_version_id: str, version_id: str,
                    num_rows: int, schema: common_pb2.Schema, data: Artifact, coverage: float, fleiss_kappa: float,
                    skipped_labeling: bool = False) -> ev.DatasetLabeled:
    return ev.DatasetLabeled(
        meta=meta, job_id=job_id, dataset_id=dataset_id, source_version_id=source_version_id,
        version_id=version_id, num_rows=num_rows, schema=schema, data=artifact_ref(data), coverage=coverage,
        fleiss_kappa=fleiss_kappa, skipped_labeling=skipped_labeling,
    )
