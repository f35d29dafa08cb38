"""A real KServe ModelServer (`python -m services.serving`, subprocess on free ports) answering kserve's own
clients and httpx, and publishing InferenceLogged to a real Kafka broker. One server for the module."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from kafka import KafkaConsumer
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import ArtifactStore
from services.common.bus import TOPICS
from services.deployment.local import free_port
from services.serving.testing import make_version, png_bytes, raw_images

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NAME = "digits"


@pytest.fixture(scope="module")
def server(tmp_path_factory, kafka_bootstrap):
    tmp = tmp_path_factory.mktemp("serving")
    artifacts = ArtifactStore((tmp / "artifacts").as_uri())
    made = make_version(artifacts, "image", project="serving-it", version_id=f"mv-{uuid.uuid4().hex[:8]}")
    http_port, grpc_port = free_port(), free_port()
    env = dict(os.environ, GRISTMILL_ARTIFACT_URI=artifacts.root_uri, GRISTMILL_KAFKA_BOOTSTRAP=kafka_bootstrap,
               GRISTMILL_STATE_DIR=str(tmp))
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.serving", "--model_name", NAME, "--card_uri", made.card_ref.uri,
         "--card_sha256", made.card_ref.sha256, "--http_port", str(http_port), "--grpc_port", str(grpc_port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, (tmp / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"{base}/v2/models/{NAME}/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server not ready"
        time.sleep(0.2)
    yield made, base, f"127.0.0.1:{grpc_port}"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_readiness_metadata_and_metrics(server):
    _, base, _ = server
    assert httpx.get(f"{base}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{base}/v2/health/live").json()["live"] is True
    assert httpx.get(f"{base}/v1/models/{NAME}").json() == {"name": NAME, "ready": True}
    meta = httpx.get(f"{base}/v2/models/{NAME}").json()
    assert meta["inputs"][0] == {"name": "input-0", "datatype": "FP32", "shape": [-1, 1, 8, 8]}
    assert httpx.get(f"{base}/v2/models/nope/ready").status_code == 404
    httpx.post(f"{base}/v1/models/{NAME}:predict", json={"instances": raw_images(1).tolist()})
    metrics = httpx.get(f"{base}/metrics").text
    assert f'request_predict_seconds_count{{model_name="{NAME}"}}' in metrics
    assert "gristmill_predictor_memory_bytes" in metrics and "gristmill_inference_log_total" in metrics


def test_v1_rest_raw_pixels_and_png(server):
    made, base, _ = server
    px = raw_images(2, seed=11)
    with httpx.Client() as c:
        r = c.post(f"{base}/v1/models/{NAME}:predict", json={"instances": px.tolist()},
                   headers={"x-request-id": "it-v1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "it-v1"
        body = r.json()
        png = c.post(f"{base}/v1/models/{NAME}:predict",
                     json={"instances": [{"b64": base64.b64encode(png_bytes(p)).decode()} for p in px]}).json()
    assert len(body["predictions"]) == 2 and set(body["predictions"]) <= {"zero", "one", "two"}
    np.testing.assert_allclose(body["probabilities"], png["probabilities"], rtol=1e-5)
    np.testing.assert_allclose(np.sum(body["probabilities"], axis=1), 1.0, rtol=1e-5)


def test_v2_rest_with_kserve_client(server):
    made, base, _ = server

    async def go():
        rc = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
        pre = InferInput("input-0", [2, 1, 8, 8], "FP32")
        pre.set_data_from_numpy(made.transform.apply(raw_images(2, seed=12)), binary_data=False)
        a = await rc.infer(base, InferRequest(NAME, [pre], request_id="it-v2-pre"), model_name=NAME)
        raw = InferInput("pixels", [2, 8, 8], "UINT8")
        raw.set_data_from_numpy(raw_images(2, seed=12), binary_data=False)
        b = await rc.infer(base, InferRequest(NAME, [raw], request_id="it-v2-raw"), model_name=NAME)
        await rc.close()
        return a, b

    a, b = asyncio.run(go())
    assert a.id == "it-v2-pre" and [o.name for o in a.outputs] == ["probabilities", "label"]
    np.testing.assert_allclose(a.outputs[0].as_numpy(), b.outputs[0].as_numpy(), rtol=1e-5)
    assert a.outputs[0].as_numpy().shape == (2, 3)


def test_v2_grpc_with_kserve_client(server):
    made, _, grpc_url = server
    x = made.transform.apply(raw_images(3, seed=13))

    async def go():
        c = InferenceGRPCClient(url=grpc_url, timeout=30)
        assert await c.is_model_ready(NAME)
        inp = InferInput("input-0", [3, 1, 8, 8], "FP32")
        inp.set_data_from_numpy(x)  # raw_input_contents
        res = await c.infer(InferRequest(NAME, [inp], request_id="it-grpc"))
        pixels = InferInput("pixels", [3, 8, 8], "UINT8")
        pixels.set_data_from_numpy(raw_images(3, seed=13), binary_data=False)  # typed contents
        res2 = await c.infer(InferRequest(NAME, [pixels], request_id="it-grpc-raw"))
        await c.close()
        return res, res2

    res, res2 = asyncio.run(go())
    probs = res.outputs[0].as_numpy().reshape(3, 3)
    np.testing.assert_allclose(probs, res2.outputs[0].as_numpy().reshape(3, 3), rtol=1e-5)
    assert res.id == "it-grpc"
    labels = [v.decode() if isinstance(v, bytes) else v for v in res.outputs[1].as_numpy().reshape(-1)]
    assert labels == [["zero", "one", "two"][i] for i in probs.argmax(axis=1)]


def test_bad_inputs_are_400_and_invalid_argument_without_traces(server):
    _, base, grpc_url = server
    with httpx.Client() as c:
        for body in ({"instances": [[1, 2, 3]]}, {"instances": "x"}, {"instances": [{"b64": "!!"}]}):
            r = c.post(f"{base}/v1/models/{NAME}:predict", json=body)
            assert r.status_code == 400, r.text
            assert r.json()["error"] and "Traceback" not in r.text
        r = c.post(f"{base}/v2/models/{NAME}/infer",
                   json={"inputs": [{"name": "x", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [1.0, 2.0]}]})
        assert r.status_code == 400 and "does not match shape" in r.json()["error"]
        r = c.post(f"{base}/v2/models/{NAME}/infer",
                   json={"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}]})
        assert r.status_code == 400 and "[-1, 1, 8, 8]" in r.json()["error"]

    async def go(inp):
        c = InferenceGRPCClient(url=grpc_url, timeout=30)
        try:
            await c.infer(InferRequest(NAME, [inp]))
        finally:
            await c.close()

    wrong = InferInput("x", [1, 5], "FP32")
    wrong.set_data_from_numpy(np.ones((1, 5), np.float32))
    with pytest.raises(grpc.RpcError) as err:
        asyncio.run(go(wrong))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "does not fit" in err.value.details()
    words = InferInput("x", [1], "BYTES")
    words.set_data_from_numpy(np.array([b"not a png"], dtype=np.object_))
    with pytest.raises(grpc.RpcError) as err:
        asyncio.run(go(words))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "unreadable" in err.value.details()


def test_every_request_is_logged_to_kafka(server, kafka_bootstrap):
    made, base, grpc_url = server
    with httpx.Client() as c:
        for i in range(3):
            r = c.post(f"{base}/v1/models/{NAME}:predict", json={"instances": raw_images(2, seed=i).tolist()},
                       headers={"x-request-id": f"log-{i}"})
            assert r.status_code == 200
        r = c.post(f"{base}/v2/models/{NAME}/infer", json={"id": "log-v2", "inputs": [
            {"name": "p", "shape": [1, 8, 8], "datatype": "UINT8", "data": raw_images(1).reshape(-1).tolist()}]})
        assert r.status_code == 200

    async def grpc_call():
        c = InferenceGRPCClient(url=grpc_url, timeout=30)
        inp = InferInput("p", [1, 8, 8], "UINT8")
        inp.set_data_from_numpy(raw_images(1))
        await c.infer(InferRequest(NAME, [inp], request_id="log-grpc"))
        await c.close()

    asyncio.run(grpc_call())
    want = {f"log-{i}#{j}" for i in range(3) for j in range(2)} | {"log-v2", "log-grpc"}
    consumer = KafkaConsumer(TOPICS[ev.InferenceLogged], bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=500)
    seen: dict[str, ev.InferenceLogged] = {}
    deadline = time.monotonic() + 30
    try:
        while not want <= set(seen) and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=300).values():
                for rec in recs:
                    e = ev.InferenceLogged.FromString(rec.value)
                    if e.model_version_id == made.card.model_version_id:
                        seen[e.request_id] = e
    finally:
        consumer.close()
    assert want <= set(seen)
    e = seen["log-0#0"]
    assert e.model_name == NAME and e.protocol == "v1" and e.meta.project == "serving-it"
    assert list(e.feature_shape) == [1, 8, 8] and len(e.features) == 64 and len(e.outputs) == 3
    np.testing.assert_allclose(e.features, made.transform.apply(raw_images(2, seed=0))[0].reshape(-1), rtol=1e-6)
    assert e.prediction in ("zero", "one", "two") and e.latency_ms > 0
    assert (seen["log-v2"].protocol, seen["log-grpc"].protocol) == ("v2-rest", "v2-grpc")
    np.testing.assert_allclose(seen["log-v2"].features, seen["log-grpc"].features, rtol=1e-6)


def test_an_input_too_large_for_kafka_is_logged_without_features(kafka_bootstrap):
    from services.serving.inference_log import LoggedRequest, make_log_producer, publish, to_events

    version = f"mv-big-{uuid.uuid4().hex[:8]}"
    big = LoggedRequest("big", "v2-rest", np.zeros((1, 3, 224, 224), np.float32), np.array([[0.2, 0.8]]),
                        ["cat"], 3.5, "", time.time())
    small = LoggedRequest("small", "v2-rest", np.ones((1, 4), np.float32), np.array([[0.6, 0.4]]),
                          ["dog"], 1.0, "", time.time())
    producer = make_log_producer(kafka_bootstrap, "big-input-test")
    events = [e for r in (big, small) for e in to_events(r, model_name=NAME, model_version_id=version, project="p")]
    assert publish(producer, events) == 1        # without the guard the producer raises MessageSizeTooLarge
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(TOPICS[ev.InferenceLogged], bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=500)
    seen: dict[str, ev.InferenceLogged] = {}
    deadline = time.monotonic() + 30
    try:
        while len(seen) < 2 and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=300).values():
                for rec in recs:
                    e = ev.InferenceLogged.FromString(rec.value)
                    if e.model_version_id == version:
                        seen[e.request_id] = e
    finally:
        consumer.close()
    assert list(seen["big"].features) == [] and list(seen["big"].feature_shape) == [3, 224, 224]
    assert seen["big"].prediction == "cat" and seen["big"].latency_ms == 3.5
    assert list(seen["small"].features) == [1.0] * 4
