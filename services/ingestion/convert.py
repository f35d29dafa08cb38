"""Proto <-> domain for ingestion."""

from __future__ import annotations

from gristmill.common.v1 import common_pb2
from gristmill.ingestion.v1 import ingestion_pb2 as pb
from services.common.convert import ts
from services.ingestion.models import DatasetRow, VersionRow
from services.ingestion.schema import Column, Schema

FORMAT_NAMES = {
    pb.DATA_FORMAT_UNSPECIFIED: "", pb.DATA_FORMAT_CSV: "csv", pb.DATA_FORMAT_PARQUET: "parquet",
    pb.DATA_FORMAT_JSONL: "jsonl", pb.DATA_FORMAT_IMAGE_ZIP: "image_zip", pb.DATA_FORMAT_NPZ: "npz",
}


def type_name(t: int) -> str:
    return common_pb2.ColumnType.Name(t).removeprefix("COLUMN_TYPE_").lower()


def schema_to_proto(schema: Schema) -> common_pb2.Schema:
    out = common_pb2.Schema(label_column=schema.label_column)
    for c in schema.columns:
        col = out.columns.add(name=c.name, type=common_pb2.ColumnType.Value(f"COLUMN_TYPE_{c.type.upper()}"),
                              required=c.required, shape=c.shape)
        if c.min is not None:
            col.min = c.min
        if c.max is not None:
            col.max = c.max
    return out


def schema_from_proto(p: common_pb2.Schema) -> Schema | None:
    if not p.columns:
        return None
    return Schema([Column(name=c.name, type=type_name(c.type), required=c.required,
                          min=c.min if c.HasField("min") else None, max=c.max if c.HasField("max") else None,
                          shape=list(c.shape)) for c in p.columns], p.label_column)


def dataset_to_proto(row: DatasetRow, latest: str = "", count: int = 0) -> pb.Dataset:
    out = pb.Dataset(dataset_id=row.dataset_id, project=row.project, name=row.name, description=row.description,
                     created_at=ts(row.created_at), latest_version_id=latest, version_count=count)
    if row.expected_schema:
        out.expected_schema.CopyFrom(schema_to_proto(Schema.from_dict(row.expected_schema)))
    return out


def version_to_proto(row: VersionRow) -> pb.DatasetVersion:
    return pb.DatasetVersion(
        version_id=row.version_id, dataset_id=row.dataset_id, content_hash=row.content_hash,
        num_rows=row.num_rows, schema=schema_to_proto(Schema.from_dict(row.schema)),
        data=common_pb2.ArtifactRef(uri=row.uri, sha256=row.sha256, size_bytes=row.size_bytes,
                                    media_type="application/vnd.apache.parquet"),
        source=row.source, created_at=ts(row.created_at), labeled=row.labeled,
    )
