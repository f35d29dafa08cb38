"""Preprocessing over real gRPC on port 0 (with a real broker for the events it emits): every error
path, and that a rejected request changes nothing."""

from __future__ import annotations

import io
import time

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaConsumer

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from gristmill.preprocessing.v1 import preprocessing_pb2 as pb
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pb_grpc
from services.common.artifacts import ArtifactStore
from services.common.bus import TOPICS, ensure_topics
from services.common.grpc_server import channel_options
from services.preprocessing.config import PreprocessingSettings
from services.preprocessing.server import build

pytestmark = pytest.mark.kafka

INVALID, NOT_FOUND, FAILED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                              grpc.StatusCode.FAILED_PRECONDITION)


@pytest.fixture
def svc(make_settings, kafka_bootstrap):
    settings = make_settings("preprocessing", PreprocessingSettings, kafka_bootstrap=kafka_bootstrap,
                             decode_threads=1)
    running = build(settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield pb_grpc.PreprocessingServiceStub(channel), ArtifactStore(settings.artifact_uri), channel, settings
    channel.close()
    running.stop()


def status(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()


def put(stub, **fields) -> pb.FeatureSpec:
    spec = json_format.ParseDict({"project": "p", **fields}, pb.FeatureSpec())
    return stub.PutFeatureSpec(pb.PutFeatureSpecRequest(spec=spec))


def table(n: int = 40, classes: int = 2) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({"width": rng.normal(size=n), "height": rng.normal(size=n),
                     "kind": rng.choice(["a", "b", "c"], n), "label": [f"c{i % classes}" for i in range(n)]})


def upload(store: ArtifactStore, t: pa.Table) -> common_pb2.ArtifactRef:
    buf = io.BytesIO()
    pq.write_table(t, buf)
    a = store.put_bytes(buf.getvalue(), "application/vnd.apache.parquet")
    return common_pb2.ArtifactRef(uri=a.uri, sha256=a.sha256, size_bytes=a.size_bytes)


def request(ref, project: str = "p", version: str = "dv-1", **kw) -> pb.BuildFeatureSetRequest:
    return pb.BuildFeatureSetRequest(project=project, dataset_version_id=version, data=ref, **kw)


BAD_SPECS = [
    ({"project": ""}, "spec.project is required"),
    ({"split": {"train": 0.5, "validation": 0.3, "test": 0.3}}, "must sum to 1"),
    ({"split": {"train": 1.2, "validation": -0.1, "test": -0.1}}, "split.validation must not be negative"),
    ({"split": {"train": 0.0, "validation": 0.5, "test": 0.5}}, "split.train must be greater than 0"),
    ({"numericColumns": ["a"], "categoricalColumns": ["a"]}, "column 'a' is listed twice"),
    ({"labelColumn": "a", "numericColumns": ["a"]}, "label column 'a' is also listed"),
    ({"imageColumn": "image", "numericColumns": ["a"]}, "takes only image_column"),
    ({"task": "TASK_DETECTION"}, "not supported by preprocessing"),
    ({"scaling": 99}, "spec.scaling has an unknown value 99"),
    ({"cleaning": {"clipOutliersIqr": -1}}, "clip_outliers_iqr must be >= 0"),
    ({"cleaning": {"nearDuplicateDecimals": 2.5}}, "near_duplicate_decimals must be a whole number"),
    ({"augmentation": {"text": {"replaceProbability": 1.5}}}, "replace_probability must be within [0, 1]"),
    ({"augmentation": {"image": {"maxCrop": 1.0}}}, "max_crop must be within [0, 1)"),
    ({"imageHeight": 28}, "set both image_height and image_width"),
    ({"maxTokens": -3}, "max_tokens must be within"),
]


def test_put_feature_spec_rejects_bad_specs_and_stores_nothing(svc):
    stub, *_ = svc
    for fields, message in BAD_SPECS:
        code, details = status(lambda fields=fields: put(stub, **fields))
        assert (code, message in details) == (INVALID, True), (fields, details)
    assert status(lambda: stub.GetFeatureSpec(pb.GetFeatureSpecRequest(project="p")))[0] == NOT_FOUND


def test_put_without_a_spec_and_get_without_a_project_are_invalid(svc):
    stub, *_ = svc
    assert status(lambda: stub.PutFeatureSpec(pb.PutFeatureSpecRequest()))[0] == INVALID
    assert status(lambda: stub.GetFeatureSpec(pb.GetFeatureSpecRequest()))[0] == INVALID


def test_put_bumps_revision_and_get_returns_the_latest_with_defaults(svc):
    stub, *_ = svc
    first = put(stub)
    second = put(stub, scaling="SCALING_STANDARD", split={"train": 0.8, "validation": 0.1, "test": 0.1})
    assert (first.revision, second.revision) == (1, 2)
    assert (first.split.train, first.split.validation, first.split.test) == (0.7, 0.15, 0.15)
    assert first.max_tokens == 64 and first.cleaning.near_duplicate_decimals == 2
    got = stub.GetFeatureSpec(pb.GetFeatureSpecRequest(project="p"))
    assert got.revision == 2 and got.scaling == pb.SCALING_STANDARD and got.split.train == 0.8
    assert got.updated_at.seconds > 0
    code, details = status(lambda: stub.GetFeatureSpec(pb.GetFeatureSpecRequest(project="ghost")))
    assert code == NOT_FOUND and "ghost" in details


def test_build_error_paths_write_nothing(svc):
    stub, store, _, settings = svc
    ref = upload(store, table())
    assert status(lambda: stub.BuildFeatureSet(request(ref)))[0] == FAILED        # no spec yet
    put(stub)
    cases = [
        (request(ref, project=""), INVALID, "project is required"),
        (request(ref, version=""), INVALID, "dataset_version_id is required"),
        (request(common_pb2.ArtifactRef()), INVALID, "data.uri is required"),
        (request(ref, project="ghost"), FAILED, "project 'ghost' has no feature spec"),
        (request(common_pb2.ArtifactRef(uri=ref.uri.replace(ref.sha256, "0" * 64))), NOT_FOUND, "does not exist"),
        (request(common_pb2.ArtifactRef(uri=ref.uri, sha256="f" * 64)), FAILED, "checksum mismatch"),
        (request(upload_raw(store, b"definitely not parquet")), INVALID, "not a readable Parquet"),
        (request(upload(store, table().drop_columns(["label"]))), INVALID, "label column 'label' is not in"),
        (request(upload(store, table(classes=1))), FAILED, "at least 2 classes"),
    ]
    for req, code, message in cases:
        got, details = status(lambda req=req: stub.BuildFeatureSet(req))
        assert (got, message in details) == (code, True), (req, details)

    put(stub, numericColumns=["width", "depth"])
    code, details = status(lambda: stub.BuildFeatureSet(request(ref)))
    assert code == INVALID and "['depth']" in details
    put(stub, labelColumn="species")
    code, details = status(lambda: stub.BuildFeatureSet(request(ref)))
    assert code == INVALID and "label column 'species'" in details

    assert stub.ListFeatureSets(pb.ListFeatureSetsRequest(project="p")).feature_sets == []
    npz = [p for p in (settings.state_dir.parent / "artifacts").rglob("*") if p.is_file() and p.read_bytes()[:2] == b"PK"]
    assert npz == []                                                                # no split was stored


def upload_raw(store: ArtifactStore, data: bytes) -> common_pb2.ArtifactRef:
    a = store.put_bytes(data)
    return common_pb2.ArtifactRef(uri=a.uri, sha256=a.sha256, size_bytes=a.size_bytes)


def features_ready(bootstrap: str, feature_set_id: str, settle: float = 1.0, timeout: float = 20.0
                   ) -> list[ev.FeaturesReady]:
    topic = TOPICS[ev.FeaturesReady]
    ensure_topics(bootstrap, [topic])
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    found, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                found += [e for e in map(ev.FeaturesReady.FromString, (r.value for r in records))
                          if e.feature_set_id == feature_set_id]
            if found:
                deadline = min(deadline, time.monotonic() + settle)
    finally:
        consumer.close()
    return found


def test_build_is_idempotent_pages_and_emits_features_ready(svc, kafka_bootstrap):
    stub, store, *_ = svc
    put(stub, scaling="SCALING_MINMAX", split={"train": 0.5, "validation": 0.25, "test": 0.25, "stratify": True})
    ref = upload(store, table())
    fs = stub.BuildFeatureSet(request(ref, correlation_id="corr-grpc"))
    assert dict(fs.split_rows) == {"train": 20, "validation": 10, "test": 10}
    assert fs.task == common_pb2.TASK_CLASSIFICATION and list(fs.class_names) == ["c0", "c1"]
    assert fs.num_classes == 2 and list(fs.input_shape) == [2 + 3]
    assert fs.cleaning.input_rows == 40 and fs.cleaning.output_rows == 40 and fs.spec_revision == 1
    assert fs.transform.sha256 and fs.train.size_bytes > 0
    again = stub.BuildFeatureSet(request(ref))
    assert again == fs
    assert stub.GetFeatureSet(pb.GetFeatureSetRequest(feature_set_id=fs.feature_set_id)) == fs

    [event] = features_ready(kafka_bootstrap, fs.feature_set_id)
    assert event.meta.correlation_id == "corr-grpc" and dict(event.split_rows) == dict(fs.split_rows)
    assert event.train == fs.train and event.transform == fs.transform and event.num_classes == 2

    other = stub.BuildFeatureSet(request(upload(store, table(50)), version="dv-2"))
    page = stub.ListFeatureSets(pb.ListFeatureSetsRequest(project="p", page_size=1))
    assert [f.feature_set_id for f in page.feature_sets] == [fs.feature_set_id] and page.next_page_token
    rest = stub.ListFeatureSets(pb.ListFeatureSetsRequest(project="p", page_size=1, page_token=page.next_page_token))
    assert [f.feature_set_id for f in rest.feature_sets] == [other.feature_set_id] and not rest.next_page_token
    assert stub.ListFeatureSets(pb.ListFeatureSetsRequest(project="nobody")).feature_sets == []


def test_get_and_list_errors(svc):
    stub, *_ = svc
    assert status(lambda: stub.GetFeatureSet(pb.GetFeatureSetRequest()))[0] == INVALID
    code, details = status(lambda: stub.GetFeatureSet(pb.GetFeatureSetRequest(feature_set_id="fs-nope")))
    assert code == NOT_FOUND and "fs-nope" in details
    assert status(lambda: stub.ListFeatureSets(pb.ListFeatureSetsRequest(page_token="garbage!")))[0] == INVALID
    assert status(lambda: stub.ListFeatureSets(pb.ListFeatureSetsRequest(page_size=-1)))[0] == INVALID


def test_health_and_reflection(svc):
    _, _, channel, _ = svc
    health = health_pb2_grpc.HealthStub(channel)
    name = pb.DESCRIPTOR.services_by_name["PreprocessingService"].full_name
    assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
