"""The artifact store on a local directory and on an S3-compatible server, through the same code."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import boto3
import pytest
from moto.server import ThreadedMotoServer

from services.common.artifacts import ArtifactStore
from services.common.errors import FailedPrecondition, NotFound
from services.common.runtime import Runtime
from services.ingestion.config import IngestionSettings
from services.ingestion.domain import Ingestion
from services.ingestion.models import Base

CSV = b"a,b\n1,2\n3,4\n"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(monkeypatch, s3_endpoint):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"b{abs(hash(monkeypatch)) % 10**8}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return s3_endpoint, bucket


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return ArtifactStore((tmp_path / "a").as_uri())
    endpoint, bucket = request.getfixturevalue("s3_env")
    return ArtifactStore(f"s3://{bucket}/artifacts", endpoint)


def test_content_addressed_round_trip_and_verification(store, tmp_path):
    a = store.put_bytes(b"hello", "text/plain")
    assert a.sha256 == hashlib.sha256(b"hello").hexdigest() and a.size_bytes == 5
    assert a.uri.endswith(a.sha256) and a.uri.startswith(store.root_uri.split("://")[0])
    assert store.put_bytes(b"hello").uri == a.uri  # same bytes, same object
    assert store.read_bytes(a.uri, a.sha256) == b"hello"
    with pytest.raises(FailedPrecondition):
        store.read_bytes(a.uri, "0" * 64)
    f = tmp_path / "big.bin"
    f.write_bytes(b"x" * 3_000_000)
    b = store.put_file(f)
    assert store.fetch_to(b.uri, tmp_path / "copy.bin", b.sha256).read_bytes() == f.read_bytes()
    with pytest.raises(NotFound):
        store.read_bytes(a.uri.replace(a.sha256, "f" * 64))


def test_tampered_object_is_detected(tmp_path):
    store = ArtifactStore((tmp_path / "a").as_uri())
    a = store.put_bytes(b"weights")
    path = a.uri.removeprefix("file://")
    open(path, "wb").write(b"evil")
    with pytest.raises(FailedPrecondition, match="checksum mismatch"):
        store.read_bytes(a.uri)


def _ingestion(make_settings, **overrides) -> Ingestion:
    settings = make_settings("ingestion", IngestionSettings, kafka_bootstrap="127.0.0.1:1", **overrides)
    rt = Runtime.create(settings, base=Base)

    class NoBroker:
        def stage(self, s, e, key=""):
            rt.publisher.stage(s, e, key)

        def flush(self):
            return 0

    return Ingestion(rt.store, rt.artifacts, NoBroker(), settings)


def test_ingest_from_s3_and_http_uris(make_settings, s3_env, tmp_path):
    endpoint, bucket = s3_env
    boto3.client("s3", endpoint_url=endpoint).put_object(Bucket=bucket, Key="in/rows.csv", Body=CSV)
    domain = _ingestion(make_settings, s3_endpoint_url=endpoint,
                        artifact_uri=f"s3://{bucket}/artifacts")  # artifacts land in S3 too
    ds = domain.create_dataset("p", "d").dataset_id
    v, _ = domain.ingest_uri(ds, f"s3://{bucket}/in/rows.csv")
    assert v.num_rows == 2 and v.uri.startswith(f"s3://{bucket}/artifacts/sha256/")

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "more.csv").write_bytes(CSV + b"5,6\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        v2, _ = domain.ingest_uri(ds, f"http://127.0.0.1:{httpd.server_port}/more.csv")
        assert v2.num_rows == 3 and v2.source.startswith("http://127.0.0.1")
    finally:
        httpd.shutdown()
