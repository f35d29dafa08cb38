"""Ingestion domain: datasets, immutable content-addressed versions, uploads and sources.

A version becomes visible only after its Parquet artifact is durable; the version row and its
DatasetIngested event commit in one transaction (outbox), then the event is flushed to Kafka.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from gristmill.events.v1 import events_pb2 as ev
from services.common import bus
from services.common.artifacts import ArtifactStore
from services.common.bus import Publisher
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from services.common.ids import new_id
from services.common.store import Store, get_or_not_found, paginate
from services.ingestion import formats, samples
from services.ingestion.config import IngestionSettings
from services.ingestion.models import DatasetRow, UploadRow, VersionRow
from services.ingestion.schema import Schema, infer, validate

log = logging.getLogger(__name__)
PARQUET = "application/vnd.apache.parquet"


@dataclass
class UploadHeader:
    dataset_id: str
    upload_id: str
    format: str
    filename: str
    total_size: int
    sha256: str
    label_column: str = ""


class Ingestion:
    def __init__(self, store: Store, artifacts: ArtifactStore, publisher: Publisher,
                 settings: IngestionSettings) -> None:
        self.store, self.artifacts, self.publisher, self.settings = store, artifacts, publisher, settings
        self.spool = Path(settings.state_dir) / "uploads"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._upload_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # --- datasets --------------------------------------------------------------------------------
    def create_dataset(self, project: str, name: str, description: str = "",
                       expected_schema: Schema | None = None) -> DatasetRow:
        if not project or not name:
            raise InvalidArgument("project and name are required")
        with self.store.session() as s:
            if s.scalar(select(DatasetRow).where(DatasetRow.project == project, DatasetRow.name == name)):
                raise AlreadyExists(f"dataset {name!r} already exists in project {project!r}")
            row = DatasetRow(dataset_id=new_id("ds"), project=project, name=name, description=description,
                             expected_schema=expected_schema.to_dict() if expected_schema else None)
            s.add(row)
        return row

    def get_dataset(self, dataset_id: str) -> DatasetRow:
        with self.store.session() as s:
            return get_or_not_found(s, DatasetRow, dataset_id, "dataset")

    def dataset_summaries(self, dataset_ids: list[str]) -> dict[str, tuple[str, int]]:
        """(latest version id, version count) per dataset, in one query for a whole page."""
        summaries = dict.fromkeys(dataset_ids, ("", 0))
        with self.store.session() as s:
            for dataset_id, version_id in s.execute(
                    select(VersionRow.dataset_id, VersionRow.version_id)
                    .where(VersionRow.dataset_id.in_(dataset_ids))
                    .order_by(VersionRow.created_at, VersionRow.version_id)):
                summaries[dataset_id] = (version_id, summaries[dataset_id][1] + 1)
        return summaries

    def list_datasets(self, project: str, size: int, token: str) -> tuple[list[DatasetRow], str]:
        q = select(DatasetRow).order_by(DatasetRow.created_at, DatasetRow.dataset_id)
        if project:
            q = q.where(DatasetRow.project == project)
        with self.store.session() as s:
            return paginate(s, q, size, token)

    # --- versions --------------------------------------------------------------------------------
    def get_version(self, version_id: str) -> VersionRow:
        with self.store.session() as s:
            return get_or_not_found(s, VersionRow, version_id, "dataset version")

    def list_versions(self, dataset_id: str, size: int, token: str) -> tuple[list[VersionRow], str]:
        self.get_dataset(dataset_id)
        q = (select(VersionRow).where(VersionRow.dataset_id == dataset_id)
             .order_by(VersionRow.created_at, VersionRow.version_id))
        with self.store.session() as s:
            return paginate(s, q, size, token)

    def ingest_bytes(self, dataset_id: str, data: bytes, fmt: str, *, filename: str = "", label_column: str = "",
                     source: str = "upload", correlation_id: str = "") -> tuple[VersionRow, bool]:
        """Parse, validate and store `data` as a new version (or return the identical existing one)."""
        dataset = self.get_dataset(dataset_id)
        fmt = fmt or formats.guess_format(filename, data[:512])
        if fmt not in formats.FORMATS:
            raise InvalidArgument(f"unknown format {fmt!r}; expected one of {formats.FORMATS}")
        table = formats.parse(data, fmt, label_column)
        return self.ingest_table(dataset, table, label_column=label_column, source=source,
                                 correlation_id=correlation_id)

    def ingest_table(self, dataset: DatasetRow, table: pa.Table, *, label_column: str = "", source: str,
                     correlation_id: str = "") -> tuple[VersionRow, bool]:
        if dataset.expected_schema:
            validate(table, Schema.from_dict(dataset.expected_schema))
        if not label_column and "label" in table.column_names:
            label_column = "label"
        schema = infer(table, label_column)
        buf = io.BytesIO()
        # Fixed writer options keep the bytes, and so the content hash, stable for equal tables.
        pq.write_table(table, buf, compression="zstd", write_statistics=True, store_schema=True)
        # Stored first (content-addressed, so a repeat costs nothing) and hashed once: durable before
        # any row points at it.
        artifact = self.artifacts.put_bytes(buf.getvalue(), PARQUET)
        content_hash = artifact.sha256
        with self.store.session() as s:
            existing = s.scalar(select(VersionRow).where(VersionRow.dataset_id == dataset.dataset_id,
                                                         VersionRow.content_hash == content_hash))
            if existing is not None:
                return existing, True
        version_id = "dv-" + hashlib.sha256(f"{dataset.dataset_id}:{content_hash}".encode()).hexdigest()[:16]
        row = VersionRow(version_id=version_id, dataset_id=dataset.dataset_id, content_hash=content_hash,
                         num_rows=table.num_rows, schema=schema.to_dict(), uri=artifact.uri,
                         sha256=artifact.sha256, size_bytes=artifact.size_bytes, source=source,
                         labeled=bool(label_column))
        from services.ingestion.convert import schema_to_proto  # local: convert imports domain types

        event = ev.DatasetIngested(
            meta=bus.new_meta("ingestion", dataset.project, correlation_id), dataset_id=dataset.dataset_id,
            version_id=version_id, content_hash=content_hash, num_rows=table.num_rows,
            schema=schema_to_proto(schema), labeled=row.labeled, source=source,
        )
        event.data.uri, event.data.sha256 = artifact.uri, artifact.sha256
        event.data.size_bytes, event.data.media_type = artifact.size_bytes, PARQUET
        with self.store.session() as s:
            s.add(row)
            self.publisher.stage(s, event, key=dataset.dataset_id)  # sent by the relay right after commit
        log.info("version ingested", extra={"dataset_id": dataset.dataset_id, "version_id": version_id,
                                            "rows": table.num_rows, "source": source})
        return row, False

    # --- sources ---------------------------------------------------------------------------------
    def ingest_uri(self, dataset_id: str, uri: str, fmt: str = "", label_column: str = "",
                   correlation_id: str = "") -> tuple[VersionRow, bool]:
        if not uri.startswith(("file://", "s3://", "http://", "https://")):
            raise InvalidArgument(f"unsupported URI {uri!r}; use file://, s3://, http:// or https://")
        self.get_dataset(dataset_id)
        options = {}
        if uri.startswith("s3://") and self.settings.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": self.settings.s3_endpoint_url}
        limit = self.settings.max_upload_mb << 20
        try:
            with fsspec.open(uri, "rb", **options) as f:
                data = f.read(limit + 1)
        except FileNotFoundError as exc:
            raise NotFound(f"{uri} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise Unavailable(f"could not read {uri}: {exc}") from exc
        if len(data) > limit:
            raise ResourceExhausted(f"{uri} is larger than the {self.settings.max_upload_mb} MiB limit")
        return self.ingest_bytes(dataset_id, data, fmt, filename=uri.rsplit("/", 1)[-1],
                                 label_column=label_column, source=uri, correlation_id=correlation_id)

    def ingest_sample(self, dataset_id: str, name: str, drop_labels: bool = False,
                      correlation_id: str = "") -> tuple[VersionRow, bool]:
        dataset = self.get_dataset(dataset_id)
        table = samples.load(name, drop_labels)
        return self.ingest_table(dataset, table, source=f"sample:{name}", correlation_id=correlation_id)

    def ingest_topic(self, dataset_id: str, topic: str, max_records: int, max_seconds: float,
                     from_beginning: bool, correlation_id: str = "") -> tuple[VersionRow, bool]:
        """Window a topic of JSON sensor readings into one version (closes on count or time)."""
        dataset = self.get_dataset(dataset_id)
        if not topic:
            raise InvalidArgument("topic is required")
        if max_records <= 0 and max_seconds <= 0:
            raise InvalidArgument("set max_records or max_seconds to close the window")
        max_seconds = min(max_seconds or self.settings.topic_window_max_seconds,
                          self.settings.topic_window_max_seconds)
        from kafka import KafkaConsumer  # only this path talks to Kafka as a consumer

        consumer = KafkaConsumer(topic, bootstrap_servers=self.settings.kafka_bootstrap, group_id=None,
                                 enable_auto_commit=False,
                                 auto_offset_reset="earliest" if from_beginning else "latest")
        rows, skipped = [], 0
        deadline = time.monotonic() + max_seconds
        try:
            while time.monotonic() < deadline and (max_records <= 0 or len(rows) < max_records):
                for records in consumer.poll(timeout_ms=200).values():
                    for rec in records:
                        try:
                            doc = json.loads(rec.value)
                        except (ValueError, UnicodeDecodeError):
                            doc = None
                        if isinstance(doc, dict):
                            rows.append(doc)
                        else:
                            skipped += 1
        finally:
            consumer.close()
        rows = rows[:max_records] if max_records > 0 else rows
        if not rows:
            raise FailedPrecondition(f"no readings arrived on {topic!r} within {max_seconds:.1f}s "
                                     f"({skipped} unparseable records skipped)")
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgument(f"readings on {topic!r} do not share one schema: {exc}") from exc
        source = f"topic:{topic}" + (f" ({skipped} unparseable skipped)" if skipped else "")
        return self.ingest_table(dataset, table, source=source, correlation_id=correlation_id)

    # --- resumable uploads -----------------------------------------------------------------------
    def _lock(self, upload_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._upload_locks.setdefault(upload_id, threading.Lock())

    def _spool_path(self, upload_id: str) -> Path:
        return self.spool / (hashlib.sha256(upload_id.encode()).hexdigest()[:32] + ".part")

    def begin_upload(self, h: UploadHeader) -> UploadRow:
        """Start an upload, or resume one with the same upload_id and the same header."""
        if not h.upload_id:
            raise InvalidArgument("upload_id is required (choose one; reuse it to resume)")
        if h.total_size <= 0:
            raise InvalidArgument("total_size must be positive")
        if h.total_size > self.settings.max_upload_mb << 20:
            raise ResourceExhausted(f"upload of {h.total_size} bytes exceeds the "
                                    f"{self.settings.max_upload_mb} MiB limit")
        if len(h.sha256) != 64 or any(c not in "0123456789abcdef" for c in h.sha256.lower()):
            raise InvalidArgument("sha256 must be the 64-character hex digest of the whole file")
        if h.format and h.format not in formats.FORMATS:
            raise InvalidArgument(f"unknown format {h.format!r}")
        self.get_dataset(h.dataset_id)
        with self.store.session() as s:
            row = s.get(UploadRow, h.upload_id)
            if row is None:
                row = UploadRow(upload_id=h.upload_id, dataset_id=h.dataset_id, format=h.format,
                                filename=h.filename, total_size=h.total_size, sha256=h.sha256.lower(),
                                label_column=h.label_column, acknowledged=0)
                s.add(row)
                self._spool_path(h.upload_id).write_bytes(b"")
            elif (row.dataset_id, row.total_size, row.sha256) != (h.dataset_id, h.total_size, h.sha256.lower()):
                raise FailedPrecondition(f"upload {h.upload_id!r} was started for another file; "
                                         "use a new upload_id")
            return row

    def upload_status(self, upload_id: str) -> UploadRow:
        with self.store.session() as s:
            return get_or_not_found(s, UploadRow, upload_id, "upload")

    def write_chunk(self, upload_id: str, offset: int, data: bytes, crc32: int) -> int:
        """Append one chunk; returns the new acknowledged offset."""
        if len(data) > self.settings.max_chunk_mb << 20:
            raise ResourceExhausted(f"chunk of {len(data)} bytes exceeds {self.settings.max_chunk_mb} MiB")
        if zlib.crc32(data) != crc32:
            raise InvalidArgument(f"checksum mismatch in chunk at offset {offset}: crc32 "
                                  f"{zlib.crc32(data)} != {crc32}")
        with self._lock(upload_id):
            row = self.upload_status(upload_id)
            if row.complete:
                raise FailedPrecondition(f"upload {upload_id!r} is already complete")
            if offset != row.acknowledged:
                raise InvalidArgument(f"chunk offset {offset} does not match the acknowledged offset "
                                      f"{row.acknowledged}; resume from there")
            if offset + len(data) > row.total_size:
                raise InvalidArgument(f"chunk ends at {offset + len(data)}, past total_size {row.total_size}")
            path = self._spool_path(upload_id)
            with open(path, "r+b") as f:
                f.seek(offset)
                f.write(data)
                f.truncate()
                f.flush()
            with self.store.session() as s:
                s.get(UploadRow, upload_id).acknowledged = offset + len(data)
            return offset + len(data)

    def finish_upload(self, upload_id: str, correlation_id: str = "") -> tuple[VersionRow, bool]:
        with self._lock(upload_id):
            row = self.upload_status(upload_id)
            if row.complete:
                return self.get_version(row.version_id), True
            if row.acknowledged != row.total_size:
                raise FailedPrecondition(f"upload {upload_id!r} is incomplete: {row.acknowledged} of "
                                         f"{row.total_size} bytes acknowledged; resume with the same upload_id")
            path = self._spool_path(upload_id)
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest != row.sha256:
                # The bytes can't be trusted: drop them so a retry starts clean.
                self._discard(upload_id)
                raise InvalidArgument(f"checksum mismatch: the file's sha256 is {digest}, the header said "
                                      f"{row.sha256}; the upload was discarded")
            try:
                version, dedup = self.ingest_bytes(row.dataset_id, data, row.format, filename=row.filename,
                                                   label_column=row.label_column, source="upload",
                                                   correlation_id=correlation_id)
            except InvalidArgument:
                self._discard(upload_id)
                raise
            with self.store.session() as s:
                done = s.get(UploadRow, upload_id)
                done.complete, done.version_id = True, version.version_id
            path.unlink(missing_ok=True)
            return version, dedup

    def _discard(self, upload_id: str) -> None:
        self._spool_path(upload_id).unlink(missing_ok=True)
        with self.store.session() as s:
            row = s.get(UploadRow, upload_id)
            if row is not None:
                s.delete(row)
