"""The predictor in-process: loading with checksums, input handling and validation, the inference log.

The same code behind a real ModelServer (V1/V2 REST, V2 gRPC, Kafka) is in
tests/integration/test_serving.py.
"""

from __future__ import annotations

import asyncio
import base64
import pickle
import random
import threading
import time

import numpy as np
import pytest
from kserve import InferInput, InferRequest
from kserve.errors import InvalidInput

from services.common.artifacts import ArtifactStore
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.modelzoo import ModelCard
from services.serving.inference_log import InferenceLogger, LoggedRequest, decode, encode, row_id, to_events
from services.serving.loader import check_safetensors, load_version
from services.serving.predictor import GristmillModel
from services.serving.resources import ProcessSampler
from services.serving.testing import make_version, png_bytes, raw_images, raw_rows


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ArtifactStore(tmp_path_factory.mktemp("art").as_uri())


@pytest.fixture(scope="module")
def image(store):
    made = make_version(store, "image", version_id="mv-img")
    return made, GristmillModel("digits", load_version(store, made.card_ref.uri, made.card_ref.sha256), max_batch=64)


@pytest.fixture(scope="module")
def tabular(store):
    made = make_version(store, "tabular", version_id="mv-tab")
    return made, GristmillModel("tab", load_version(store, made.card_ref.uri, made.card_ref.sha256))


def predict(model, payload, headers=None):
    return asyncio.run(model.predict(payload, headers or {}, {}))


def v2(name, arr, datatype="FP32", params=None, request_params=None, rid="r1"):
    inp = InferInput(name, list(np.shape(arr)), datatype, parameters=params)
    inp.set_data_from_numpy(np.asarray(arr), binary_data=False)
    return InferRequest("m", [inp], request_id=rid, parameters=request_params)


def bad(model, payload, match):
    with pytest.raises(InvalidInput, match=match):
        predict(model, payload)


# --- loading -------------------------------------------------------------------------------------
def test_load_verifies_every_checksum_and_refuses_pickles(store, image):
    made, _ = image
    v = load_version(store, made.card_ref.uri, made.card_ref.sha256)
    assert v.card.model_version_id == "mv-img" and v.transform.input_shape == [1, 8, 8]
    with pytest.raises(InvalidArgument, match="card_sha256"):
        load_version(store, made.card_ref.uri, "")
    with pytest.raises(FailedPrecondition, match="checksum"):
        load_version(store, made.card_ref.uri, "0" * 64)
    # a card whose weights checksum is wrong
    card = ModelCard.from_json(made.card.to_json())
    card.weights_sha256 = "1" * 64
    ref = store.put_bytes(card.to_json().encode())
    with pytest.raises(FailedPrecondition, match="checksum"):
        load_version(store, ref.uri, ref.sha256)
    # pickled weights with the right checksum are still refused before anything unpickles them
    blob = pickle.dumps({"w": [1.0, 2.0]})
    w = store.put_bytes(blob)
    card.weights_uri, card.weights_sha256 = w.uri, w.sha256
    ref = store.put_bytes(card.to_json().encode())
    with pytest.raises(FailedPrecondition, match="not safetensors"):
        load_version(store, ref.uri, ref.sha256)
    with pytest.raises(FailedPrecondition):
        check_safetensors(b"\x05\x00\x00\x00\x00\x00\x00\x00[1,2]")


# --- inputs --------------------------------------------------------------------------------------
def test_image_inputs_raw_and_preprocessed_agree(image):
    made, model = image
    px = raw_images(3, seed=3)
    expected = made.transform.apply(px)
    out_raw = predict(model, {"instances": px.tolist()})                       # uint8 pixels (N, H, W)
    out_png = predict(model, {"instances": [{"b64": base64.b64encode(png_bytes(p)).decode()} for p in px]})
    out_pre = predict(model, {"instances": expected.tolist()})                 # (N, 1, 8, 8): preprocessed
    np.testing.assert_allclose(out_raw["probabilities"], out_png["probabilities"], rtol=1e-5)
    np.testing.assert_allclose(out_raw["probabilities"], out_pre["probabilities"], rtol=1e-5)
    assert out_raw["predictions"] == out_pre["predictions"]
    assert set(out_raw["predictions"]) <= {"zero", "one", "two"}
    # V2: BYTES of encoded images, raw pixels, and the preprocessed tensor
    inp = InferInput("image", [2], "BYTES")
    inp.set_data_from_numpy(np.array([png_bytes(p) for p in px[:2]], dtype=np.object_), binary_data=True)
    r = predict(model, InferRequest("digits", [inp], request_id="b1"))
    np.testing.assert_allclose(r.outputs[0].as_numpy(), np.asarray(out_raw["probabilities"][:2]), rtol=1e-5)
    r = predict(model, v2("x", px[:2], "UINT8"))
    assert r.id == "r1" and r.model_version == "mv-img" and r.outputs[1].data == out_raw["predictions"][:2]


def test_image_input_errors_are_invalid_input(image):
    made, model = image
    bad(model, {"instances": [[1, 2, 3]]}, r"input shape \[-1, 3\] does not fit")
    bad(model, {"instances": [[[1, 2], [3, 4]]]}, "raw pixels")
    bad(model, {"instances": [[1, 2], [3]]}, "equally shaped")
    bad(model, {"instances": []}, "non-empty")
    bad(model, {"instances": ["abc"]}, "b64")
    bad(model, {"instances": [{"b64": "%%%"}]}, "base64")
    bad(model, {"instances": [{"b64": base64.b64encode(b"not an image").decode()}]}, "unreadable")
    bad(model, {"instances": [[0] * 64] * 65}, "exceed the limit of 64")
    nan = made.train_x[:1].copy()
    nan[0, 0, 0, 0] = np.nan
    bad(model, v2("x", nan), "NaN")
    bad(model, v2("x", made.train_x[:1][:, :, :4, :4]), "does not fit")
    bad(model, v2("x", made.train_x[:1], params={"preprocessed": False}), "does not fit")
    bad(model, v2("x", raw_images(1), "UINT8", request_params={"preprocessed": True}), "does not match the model")
    req = v2("x", made.train_x[:1])
    req.inputs[0]._datatype = "FP99"
    bad(model, req, "datatype FP99")
    req = v2("x", made.train_x[:1])
    req.inputs[0]._shape = [2, 1, 8, 8]
    bad(model, req, "does not match shape")
    bad(model, b"{not json", "not JSON")


def test_tabular_rows_columns_and_arrays(tabular):
    made, model = tabular
    rows = raw_rows(4, seed=2)
    x = made.transform.apply(rows)
    by_rows = predict(model, {"instances": rows})
    by_pre = predict(model, {"instances": x.tolist()})                   # [N, 4] == model shape: preprocessed
    np.testing.assert_allclose(by_rows["probabilities"], by_pre["probabilities"], rtol=1e-5)
    cols = [InferInput("a", [4], "FP64"), InferInput("b", [4], "FP64"), InferInput("color", [4], "BYTES")]
    cols[0].set_data_from_numpy(np.array([r["a"] for r in rows]), binary_data=False)
    cols[1].set_data_from_numpy(np.array([r["b"] for r in rows]), binary_data=False)
    cols[2].set_data_from_numpy(np.array([r["color"] for r in rows], dtype=np.object_), binary_data=False)
    r = predict(model, InferRequest("tab", cols), {"x-request-id": "hdr-1"})
    assert r.id == "hdr-1"
    np.testing.assert_allclose(r.outputs[0].as_numpy(), np.asarray(by_rows["probabilities"]), rtol=1e-5)
    bad(model, {"instances": [{"a": 1.0}]}, r"lacks columns \['b', 'color'\]")
    bad(model, {"instances": [{"a": 1.0, "b": 2.0, "color": "red"}, [1, 2, 3, 4]]}, "mix")
    bad(model, {"instances": [[1.0, 2.0, 3.0]]}, "all numeric")
    bad(model, {"instances": rows, "preprocessed": True}, "numeric arrays")
    cols[1] = InferInput("b", [3], "FP64", [1.0, 2.0, 3.0])
    bad(model, InferRequest("tab", cols), "same number of rows")


def test_ambiguous_numeric_tabular_defaults_to_raw():
    import torch

    from services.common.features import FittedTransform, NumericFeature, Segment
    from services.common.modelzoo import build_model, load_model, weights_to_bytes
    from services.serving.loader import ServedVersion

    # a model of width 2 behind an all-numeric transform of width 2: raw and preprocessed look alike
    t = FittedTransform(kind="tabular", task="regression", label_column="y", class_names=[], input_shape=[2],
                        numeric=[NumericFeature("a", 0.0, scale=10.0), NumericFeature("b", 0.0, scale=10.0)],
                        layout=[Segment("a", "numeric", 0, 1), Segment("b", "numeric", 1, 2)])
    torch.manual_seed(0)
    card = ModelCard(model_version_id="mv-reg", task="regression", architecture="mlp", params={"hidden": [4]},
                     input_shape=[2], num_outputs=1)
    weights = weights_to_bytes(build_model("regression", "mlp", {"hidden": [4]}, [2], 1))
    model = GristmillModel("reg", ServedVersion(card, load_model(card, weights), t))
    raw = predict(model, {"instances": [[1.0, 2.0]]})
    scaled = predict(model, {"instances": [[10.0, 20.0]], "preprocessed": True})
    unscaled = predict(model, {"instances": [[1.0, 2.0]], "preprocessed": "true"})
    assert raw["predictions"] == scaled["predictions"] != unscaled["predictions"]
    assert isinstance(raw["predictions"][0], float)
    r = predict(model, v2("x", np.array([[1.0, 2.0]], np.float32)))
    assert r.outputs[0].name == "prediction" and r.outputs[0].shape == [1, 1]
    bad(model, {"instances": [[1.0, 2.0]], "preprocessed": "maybe"}, "true or false")


def test_metadata_lists_tensor_and_raw_inputs(image, tabular):
    assert [i["name"] for i in image[1].get_input_types()] == ["input-0", "image"]
    assert [i["name"] for i in tabular[1].get_input_types()] == ["input-0", "a", "b", "color"]
    assert tabular[1].get_output_types()[0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}


# --- inference log -------------------------------------------------------------------------------
def _req(n=1, rid="r"):
    return LoggedRequest(rid, "v1", np.zeros((n, 2), np.float32), np.ones((n, 3)), ["a"] * n, 1.5)


def test_logger_samples_batches_and_drops_when_full():
    sent: list[LoggedRequest] = []
    gate = threading.Event()

    def send(batch):
        gate.wait(10)
        sent.extend(batch)

    lg = InferenceLogger(send, model_name="m", queue_size=2, rng=random.Random(0)).start()
    t0 = time.perf_counter()
    results = [lg.submit(_req(2, f"q{i}")) for i in range(6)]
    assert time.perf_counter() - t0 < 0.5          # never waits for the sender
    assert results.count(False) >= 3 and lg.counts["dropped"] >= 3
    gate.set()
    lg.close()
    assert lg.counts["published"] == 2 * results.count(True) == 2 * len(sent)
    assert sent[0].request_id == "q0"

    off = InferenceLogger(lambda b: None, model_name="m", sample_rate=0.0)
    assert off.submit(_req()) is False and off.counts["sampled_out"] == 1
    half = InferenceLogger(lambda b: None, model_name="m", sample_rate=0.5, queue_size=1000, rng=random.Random(1))
    kept = sum(half.submit(_req()) for _ in range(400))
    assert 150 < kept < 250
    with pytest.raises(ValueError):
        InferenceLogger(lambda b: None, model_name="m", sample_rate=1.5)


def test_logger_counts_failures_and_events_per_row():
    def broken(batch):
        raise ConnectionError("broker away")

    lg = InferenceLogger(broken, model_name="m").start()
    lg.submit(_req(3))
    lg.close()
    assert lg.counts["failed"] == 3 and lg.counts["published"] == 0
    assert row_id("x", 0, 1) == "x" and row_id("x", 2, 3) == "x#2"
    evs = to_events(_req(1, "solo"), model_name="m", model_version_id="v", project="p")
    assert [e.request_id for e in evs] == ["solo"]
    e = evs[0]
    assert (e.model_name, e.model_version_id, e.meta.project, e.protocol) == ("m", "v", "p", "v1")
    assert list(e.feature_shape) == [2] and len(e.outputs) == 3 and e.latency_ms == 1.5 and e.meta.event_id
    req = _req(3, "batch")
    rows = to_events(req, model_name="m", model_version_id="v", project="p")
    assert [r.request_id for r in rows] == ["batch#0", "batch#1", "batch#2"]
    assert len({r.meta.correlation_id for r in rows}) == 1 and len({r.meta.event_id for r in rows}) == 3
    assert {r.meta.occurred_at.ToNanoseconds() for r in rows} == {int(req.at * 1e9)}


def test_publisher_record_format_round_trips():
    req = LoggedRequest("r-1", "v2-grpc", np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2),
                        np.array([[0.1, 0.9], [0.7, 0.3]]), ["one", "zero"], 2.25, "corr", 1700000000.5)
    framed = encode(req)
    assert int.from_bytes(framed[:4], "little") == len(framed) - 4
    back = decode(framed[4:])
    assert (back.request_id, back.protocol, back.predictions, back.latency_ms, back.correlation_id, back.at) == \
        ("r-1", "v2-grpc", ["one", "zero"], 2.25, "corr", 1700000000.5)
    np.testing.assert_array_equal(back.features, req.features)
    np.testing.assert_allclose(back.outputs, req.outputs, rtol=1e-6)


def test_process_sampler_psutil_and_proc_agree():
    a, b = ProcessSampler(), ProcessSampler(use_psutil=False)
    sum(i * i for i in range(200_000))
    (cpu_a, rss_a), (cpu_b, rss_b) = a.sample(), b.sample()
    assert cpu_a >= 0 and cpu_b >= 0
    assert abs(rss_a - rss_b) < 0.1 * rss_a
