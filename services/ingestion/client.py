"""Client-side resumable upload: chunks with crc32, resuming from the server's acknowledged offset."""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Callable, Iterator

import grpc

from gristmill.ingestion.v1 import ingestion_pb2 as pb
from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc

CHUNK = 1 << 20


def _requests(header: pb.UploadHeader, data: bytes, start: int, chunk: int,
              on_progress: Callable[[int], None] | None) -> Iterator[pb.UploadDatasetRequest]:
    yield pb.UploadDatasetRequest(header=header)
    for off in range(start, len(data), chunk):
        piece = data[off:off + chunk]
        yield pb.UploadDatasetRequest(chunk=pb.UploadChunk(offset=off, data=piece, crc32=zlib.crc32(piece)))
        if on_progress:
            on_progress(off + len(piece))


def _acknowledged(stub: pb_grpc.IngestionServiceStub, upload_id: str) -> int:
    """Where the server says this upload stands (0 when it never saw it)."""
    try:
        return stub.GetUploadStatus(pb.GetUploadStatusRequest(upload_id=upload_id)).acknowledged_offset
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return 0
        raise


def upload(stub: pb_grpc.IngestionServiceStub, dataset_id: str, data: bytes, *, filename: str = "",
           fmt: int = pb.DATA_FORMAT_UNSPECIFIED, label_column: str = "", upload_id: str = "",
           chunk: int = CHUNK, correlation_id: str = "", attempts: int = 3,
           on_progress: Callable[[int], None] | None = None) -> pb.IngestResponse:
    """Upload `data`; on UNAVAILABLE or a broken stream, resume from the last acknowledged offset."""
    header = pb.UploadHeader(dataset_id=dataset_id, upload_id=upload_id or str(uuid.uuid4()), format=fmt,
                             filename=filename, total_size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                             label_column=label_column, correlation_id=correlation_id)
    start = _acknowledged(stub, header.upload_id) if upload_id else 0
    for attempt in range(attempts):
        try:
            return stub.UploadDataset(_requests(header, data, start, chunk, on_progress))
        except grpc.RpcError as err:
            if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED) or attempt == attempts - 1:
                raise
            start = _acknowledged(stub, header.upload_id)
    raise AssertionError("unreachable")
