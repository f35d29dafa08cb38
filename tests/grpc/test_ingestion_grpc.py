"""Ingestion over real gRPC on port 0, with a real broker for the events it emits."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
import zlib

import grpc
import numpy as np
import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, KafkaProducer

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from gristmill.ingestion.v1 import ingestion_pb2 as pb
from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from services.common.bus import TOPICS
from services.common.errors import NotFound
from services.common.grpc_server import channel_options
from services.ingestion import client
from services.ingestion.config import IngestionSettings
from services.ingestion.formats import encode_png
from services.ingestion.server import build

pytestmark = pytest.mark.kafka

CSV = b"a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n"


@pytest.fixture
def svc(make_settings, kafka_bootstrap):
    settings = make_settings("ingestion", IngestionSettings, kafka_bootstrap=kafka_bootstrap, max_upload_mb=1,
                             max_chunk_mb=1)
    running, domain = build(settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield pb_grpc.IngestionServiceStub(channel), domain, settings
    channel.close()
    running.stop()


def read_events(bootstrap, cls, match, timeout=15.0, settle=1.0):
    """Events of type `cls` matching `match`, reading until `settle` s pass after the first match."""
    consumer = KafkaConsumer(TOPICS[cls], bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    found, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                found += [e for e in (cls.FromString(r.value) for r in records) if match(e)]
            if found:
                deadline = min(deadline, time.monotonic() + settle)
    finally:
        consumer.close()
    return found


def dataset(stub, name="d", project="p", schema=None) -> str:
    req = pb.CreateDatasetRequest(project=project, name=name)
    if schema is not None:
        req.expected_schema.CopyFrom(schema)
    return stub.CreateDataset(req).dataset_id


def code_of(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()


def versions(stub, ds) -> int:
    return stub.GetDataset(pb.GetDatasetRequest(dataset_id=ds)).version_count


def test_upload_csv_creates_version_with_schema_and_event(svc, kafka_bootstrap):
    stub, _, _ = svc
    ds = dataset(stub)
    res = client.upload(stub, ds, CSV, filename="t.csv", chunk=7, label_column="label")
    v = res.version
    assert v.num_rows == 3 and v.labeled and not res.deduplicated
    cols = {c.name: c for c in v.schema.columns}
    assert cols["a"].type == common_pb2.COLUMN_TYPE_INT and cols["a"].min == 1 and cols["a"].max == 5
    assert cols["b"].type == common_pb2.COLUMN_TYPE_FLOAT
    stored = pq.read_table(v.data.uri.removeprefix("file://"))
    assert stored.column("label").to_pylist() == ["x", "y", "x"]
    assert hashlib.sha256(open(v.data.uri.removeprefix("file://"), "rb").read()).hexdigest() == v.data.sha256

    mine = read_events(kafka_bootstrap, ev.DatasetIngested, lambda e: e.version_id == v.version_id)
    assert len(mine) == 1 and mine[0].num_rows == 3 and mine[0].data.sha256 == v.data.sha256
    assert mine[0].meta.project == "p" and mine[0].meta.event_id


def test_identical_upload_deduplicates(svc):
    stub, _, _ = svc
    ds = dataset(stub)
    first = client.upload(stub, ds, CSV, filename="t.csv")
    second = client.upload(stub, ds, CSV, filename="again.csv")
    assert second.deduplicated and second.version.version_id == first.version.version_id
    assert versions(stub, ds) == 1


def acknowledged(domain, upload_id: str) -> int:
    try:
        return domain.upload_status(upload_id).acknowledged
    except NotFound:
        return 0


def test_interrupted_upload_resumes_from_acknowledged_offset(svc):
    stub, domain, _ = svc
    ds = dataset(stub)
    data = b"x,y\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(2000))
    header = pb.UploadHeader(dataset_id=ds, upload_id="resume-1", total_size=len(data), filename="r.csv",
                             sha256=hashlib.sha256(data).hexdigest())

    def broken():  # the client dies once three chunks are acknowledged
        yield pb.UploadDatasetRequest(header=header)
        for off in range(0, 3000, 1000):
            piece = data[off:off + 1000]
            yield pb.UploadDatasetRequest(chunk=pb.UploadChunk(offset=off, data=piece, crc32=zlib.crc32(piece)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and acknowledged(domain, "resume-1") < 3000:
            time.sleep(0.02)
        raise RuntimeError("connection lost")

    with pytest.raises(grpc.RpcError):
        stub.UploadDataset(broken())
    status = stub.GetUploadStatus(pb.GetUploadStatusRequest(upload_id="resume-1"))
    assert status.acknowledged_offset == 3000 and not status.complete
    assert versions(stub, ds) == 0

    res = client.upload(stub, ds, data, filename="r.csv", upload_id="resume-1", chunk=1000)
    assert res.version.num_rows == 2000
    assert stub.GetUploadStatus(pb.GetUploadStatusRequest(upload_id="resume-1")).complete


def test_incomplete_stream_is_failed_precondition_and_stores_nothing(svc):
    stub, _, _ = svc
    ds = dataset(stub)
    header = pb.UploadHeader(dataset_id=ds, upload_id="short", total_size=len(CSV) + 10,
                             sha256=hashlib.sha256(CSV).hexdigest())
    reqs = [pb.UploadDatasetRequest(header=header),
            pb.UploadDatasetRequest(chunk=pb.UploadChunk(offset=0, data=CSV, crc32=zlib.crc32(CSV)))]
    code, msg = code_of(lambda: stub.UploadDataset(iter(reqs)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "incomplete" in msg
    assert versions(stub, ds) == 0


@pytest.mark.parametrize("case", ["chunk_crc", "file_sha", "offset", "no_header", "bad_format", "oversized"])
def test_upload_errors(svc, case):
    stub, _, _ = svc
    ds = dataset(stub)
    sha = hashlib.sha256(CSV).hexdigest()
    header = pb.UploadHeader(dataset_id=ds, upload_id=f"e-{case}", total_size=len(CSV), sha256=sha,
                             filename="t.csv")
    good = pb.UploadChunk(offset=0, data=CSV, crc32=zlib.crc32(CSV))
    expected = grpc.StatusCode.INVALID_ARGUMENT
    if case == "chunk_crc":
        reqs, needle = [header, pb.UploadChunk(offset=0, data=CSV, crc32=123)], "checksum mismatch in chunk"
    elif case == "file_sha":
        header.sha256 = "0" * 64
        reqs, needle = [header, good], "checksum mismatch"
    elif case == "offset":
        reqs, needle = [header, pb.UploadChunk(offset=5, data=CSV, crc32=zlib.crc32(CSV))], "offset 5"
    elif case == "no_header":
        reqs, needle = [good], "header"
    elif case == "bad_format":
        data = b"PK\x03\x04garbage-not-a-zip"
        header.total_size, header.sha256, header.filename = len(data), hashlib.sha256(data).hexdigest(), "x.zip"
        reqs, needle = [header, pb.UploadChunk(offset=0, data=data, crc32=zlib.crc32(data))], "not valid image_zip"
    else:
        header.total_size = 2 << 20
        reqs, needle, expected = [header], "exceeds", grpc.StatusCode.RESOURCE_EXHAUSTED
    wrapped = [pb.UploadDatasetRequest(header=r) if isinstance(r, pb.UploadHeader)
               else pb.UploadDatasetRequest(chunk=r) for r in reqs]
    code, msg = code_of(lambda: stub.UploadDataset(iter(wrapped)))
    assert code == expected and needle in msg
    assert versions(stub, ds) == 0


def test_message_over_grpc_limit_is_resource_exhausted(make_settings, kafka_bootstrap):
    settings = make_settings("ingestion", IngestionSettings, kafka_bootstrap=kafka_bootstrap, max_message_mb=1)
    running, _ = build(settings)
    stub = pb_grpc.IngestionServiceStub(grpc.insecure_channel(f"127.0.0.1:{running.port}",
                                                              options=channel_options(8)))
    try:
        ds = dataset(stub)
        big = b"0" * (2 << 20)
        reqs = iter([pb.UploadDatasetRequest(header=pb.UploadHeader(dataset_id=ds, upload_id="big",
                                                                    total_size=len(big), sha256="a" * 64)),
                     pb.UploadDatasetRequest(chunk=pb.UploadChunk(offset=0, data=big, crc32=zlib.crc32(big)))])
        code, _ = code_of(lambda: stub.UploadDataset(reqs))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        running.stop()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_image_zip_with_class_folders_and_truncated_image(svc):
    stub, _, _ = svc
    ds = dataset(stub)
    img = encode_png(np.arange(64, dtype=np.uint8).reshape(8, 8))
    res = client.upload(stub, ds, _zip({"cat/1.png": img, "dog/2.png": img, "dog/3.png": img}), filename="i.zip")
    table = pq.read_table(res.version.data.uri.removeprefix("file://"))
    assert table.column("label").to_pylist() == ["cat", "dog", "dog"] and res.version.labeled
    code, msg = code_of(lambda: client.upload(stub, ds, _zip({"cat/1.png": img[: len(img) // 2]}), filename="t.zip"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "unreadable" in msg
    assert versions(stub, ds) == 1


def test_npz_images_and_pickle_refused(svc):
    stub, _, _ = svc
    ds = dataset(stub)
    buf = io.BytesIO()
    np.savez(buf, x=np.random.default_rng(0).random((5, 8, 8)), y=np.arange(5))
    res = client.upload(stub, ds, buf.getvalue(), filename="a.npz")
    assert res.version.num_rows == 5 and res.version.labeled
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"evil": 1}], dtype=object))
    code, msg = code_of(lambda: client.upload(stub, ds, buf.getvalue(), filename="b.npz"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "pickle" in msg.lower()


def test_expected_schema_mismatch_is_rejected(svc):
    stub, _, _ = svc
    schema = common_pb2.Schema(columns=[
        common_pb2.ColumnSchema(name="a", type=common_pb2.COLUMN_TYPE_INT, required=True, min=0, max=4),
        common_pb2.ColumnSchema(name="missing", type=common_pb2.COLUMN_TYPE_FLOAT, required=True)])
    ds = dataset(stub, schema=schema)
    code, msg = code_of(lambda: client.upload(stub, ds, CSV, filename="t.csv"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "'missing' is missing" in msg and "1 values outside [0.0, 4.0]" in msg
    assert versions(stub, ds) == 0


def test_sample_sets_and_uri(svc, tmp_path):
    stub, _, _ = svc
    ds = dataset(stub)
    digits = stub.IngestSampleSet(pb.IngestSampleSetRequest(dataset_id=ds, name="digits", drop_labels=True))
    assert digits.version.num_rows == 1797 and not digits.version.labeled
    iris = stub.IngestSampleSet(pb.IngestSampleSetRequest(dataset_id=ds, name="iris"))
    assert iris.version.num_rows == 150 and iris.version.schema.label_column == "label"
    code, msg = code_of(lambda: stub.IngestSampleSet(pb.IngestSampleSetRequest(dataset_id=ds, name="mnist")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "digits" in msg
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"t": i, "v": i * 0.5}) for i in range(10)))
    res = stub.IngestFromUri(pb.IngestFromUriRequest(dataset_id=ds, uri=path.as_uri()))
    assert res.version.num_rows == 10
    code, _ = code_of(lambda: stub.IngestFromUri(pb.IngestFromUriRequest(dataset_id=ds, uri=(tmp_path / "no.csv").as_uri())))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(lambda: stub.IngestFromUri(pb.IngestFromUriRequest(dataset_id=ds, uri="ftp://x/y.csv")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_sensor_topic_windowed_into_version(svc, kafka_bootstrap):
    stub, _, _ = svc
    ds = dataset(stub)
    topic = f"sensors-{ds}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(30):
        producer.send(topic, json.dumps({"sensor": "s1", "t": i, "temp": 20 + i * 0.1}).encode())
    producer.send(topic, b"\xff not json")
    producer.flush()
    producer.close()
    res = stub.IngestFromTopic(pb.IngestFromTopicRequest(dataset_id=ds, topic=topic, max_records=20,
                                                         max_seconds=20, from_beginning=True))
    assert res.version.num_rows == 20
    code, _ = code_of(lambda: stub.IngestFromTopic(pb.IngestFromTopicRequest(dataset_id=ds, topic=topic)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_not_found_already_exists_and_paging(svc):
    stub, _, _ = svc
    code, _ = code_of(lambda: stub.GetDataset(pb.GetDatasetRequest(dataset_id="ds-nope")))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(lambda: stub.GetDatasetVersion(pb.GetDatasetVersionRequest(version_id="dv-nope")))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(lambda: stub.GetUploadStatus(pb.GetUploadStatusRequest(upload_id="nope")))
    assert code == grpc.StatusCode.NOT_FOUND
    dataset(stub, "dup")
    code, _ = code_of(lambda: dataset(stub, "dup"))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, _ = code_of(lambda: stub.CreateDataset(pb.CreateDatasetRequest(project="p")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    ids = [dataset(stub, f"page{i}", project="paged") for i in range(4)]
    client.upload(stub, ids[1], CSV, filename="t.csv")
    newer = client.upload(stub, ids[1], CSV + b"7,8.5,y\n", filename="t2.csv").version.version_id
    first = stub.ListDatasets(pb.ListDatasetsRequest(project="paged", page_size=3))
    second = stub.ListDatasets(pb.ListDatasetsRequest(project="paged", page_size=3,
                                                      page_token=first.next_page_token))
    assert len(first.datasets) == 3 and first.next_page_token
    assert len(second.datasets) == 1 and not second.next_page_token
    listed = {d.dataset_id: (d.latest_version_id, d.version_count) for d in [*first.datasets, *second.datasets]}
    assert listed == {ids[0]: ("", 0), ids[1]: (newer, 2), ids[2]: ("", 0), ids[3]: ("", 0)}
    code, _ = code_of(lambda: stub.ListDatasets(pb.ListDatasetsRequest(page_token="garbage!")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
