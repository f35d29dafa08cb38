"""gRPC servicer: validate, convert, delegate."""

from __future__ import annotations

from gristmill.ingestion.v1 import ingestion_pb2 as pb
from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from services.common.errors import InvalidArgument
from services.ingestion import convert
from services.ingestion.domain import Ingestion, UploadHeader


def _ingest_response(result) -> pb.IngestResponse:
    version, dedup = result
    return pb.IngestResponse(version=convert.version_to_proto(version), deduplicated=dedup)


class IngestionServicer(pb_grpc.IngestionServiceServicer):
    def __init__(self, domain: Ingestion) -> None:
        self.d = domain

    def _datasets(self, rows) -> list[pb.Dataset]:
        summaries = self.d.dataset_summaries([r.dataset_id for r in rows])
        return [convert.dataset_to_proto(r, *summaries[r.dataset_id]) for r in rows]

    def _dataset(self, row) -> pb.Dataset:
        return self._datasets([row])[0]

    def CreateDataset(self, request, context):
        schema = convert.schema_from_proto(request.expected_schema)
        return self._dataset(self.d.create_dataset(request.project, request.name, request.description, schema))

    def GetDataset(self, request, context):
        return self._dataset(self.d.get_dataset(request.dataset_id))

    def ListDatasets(self, request, context):
        rows, token = self.d.list_datasets(request.project, request.page_size, request.page_token)
        return pb.ListDatasetsResponse(datasets=self._datasets(rows), next_page_token=token)

    def UploadDataset(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument("the first message of an upload must be its header")
        h = first.header
        self.d.begin_upload(UploadHeader(
            dataset_id=h.dataset_id, upload_id=h.upload_id, format=convert.FORMAT_NAMES.get(h.format, ""),
            filename=h.filename, total_size=h.total_size, sha256=h.sha256, label_column=h.label_column))
        for msg in request_iterator:
            if msg.WhichOneof("part") != "chunk":
                raise InvalidArgument("only chunks may follow the header")
            self.d.write_chunk(h.upload_id, msg.chunk.offset, msg.chunk.data, msg.chunk.crc32)
        return _ingest_response(self.d.finish_upload(h.upload_id, h.correlation_id))

    def GetUploadStatus(self, request, context):
        row = self.d.upload_status(request.upload_id)
        return pb.UploadStatus(upload_id=row.upload_id, dataset_id=row.dataset_id,
                               acknowledged_offset=row.acknowledged, total_size=row.total_size,
                               complete=row.complete)

    def IngestFromUri(self, request, context):
        return _ingest_response(self.d.ingest_uri(
            request.dataset_id, request.uri, convert.FORMAT_NAMES.get(request.format, ""), request.label_column,
            request.correlation_id))

    def IngestSampleSet(self, request, context):
        return _ingest_response(self.d.ingest_sample(request.dataset_id, request.name, request.drop_labels,
                                                     request.correlation_id))

    def IngestFromTopic(self, request, context):
        return _ingest_response(self.d.ingest_topic(
            request.dataset_id, request.topic, request.max_records, request.max_seconds, request.from_beginning,
            request.correlation_id))

    def GetDatasetVersion(self, request, context):
        return convert.version_to_proto(self.d.get_version(request.version_id))

    def ListDatasetVersions(self, request, context):
        rows, token = self.d.list_versions(request.dataset_id, request.page_size, request.page_token)
        return pb.ListDatasetVersionsResponse(versions=[convert.version_to_proto(r) for r in rows],
                                              next_page_token=token)
