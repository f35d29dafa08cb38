"""The deployment loop driven by real Kafka events, with real ModelServer processes (local mode):
ModelTrained + ModelEvaluated(passed) -> ModelDeployed with working endpoints; duplicates never deploy
twice; a canary, promotion and rollback; a crashing rollout leaves the previous version serving."""

from __future__ import annotations

import os
import signal
import time

import grpc
import httpx
import pytest

from gristmill.common.v1 import common_pb2
from gristmill.deployment.v1 import deployment_pb2 as pb
from gristmill.deployment.v1 import deployment_pb2_grpc as pb_grpc
from gristmill.events.v1 import events_pb2 as ev
from services.common.artifacts import ArtifactStore
from services.common.bus import make_producer, new_meta
from services.common.grpc_server import channel_options
from services.common.kafka_local import free_port
from services.deployment.config import DeploymentSettings
from services.deployment.server import build
from services.serving.testing import make_version, raw_images
from tests.events import Topic, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
PROJECT, NAME = "loop", "loop"


@pytest.fixture(scope="module")
def env(tmp_path_factory, kafka_bootstrap):
    tmp = tmp_path_factory.mktemp("deployment-it")
    settings = DeploymentSettings(service="deployment", state_dir=tmp, port=0, metrics_port=0, grace_seconds=0.5,
                                  kafka_bootstrap=kafka_bootstrap, artifact_uri=(tmp / "artifacts").as_uri(),
                                  ready_timeout=240, serving_log_sample_rate=0.0, gateway_port=free_port(),
                                  gateway_grpc_port=free_port())
    artifacts = ArtifactStore(settings.artifact_uri)
    stamp = str(int(time.time() * 1000))
    versions = {k: make_version(artifacts, "image", project=PROJECT, version_id=f"mv-{k}-{stamp}", seed=i)
                for i, k in enumerate(("a", "b", "c"))}
    running, domain = build(settings)
    producer = make_producer(kafka_bootstrap, "deployment-it")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield domain, pb_grpc.DeploymentServiceStub(channel), producer, versions, kafka_bootstrap
    channel.close()
    producer.close()
    running.stop()


def trained(made, sha=None) -> ev.ModelTrained:
    return ev.ModelTrained(meta=new_meta("training", PROJECT), run_id="run-1",
                           model_version_id=made.card.model_version_id, feature_set_id="fs-1",
                           model_card=common_pb2.ArtifactRef(uri=made.card_ref.uri,
                                                             sha256=sha or made.card_ref.sha256))


def evaluated(made, passed=True, evaluation_id=None) -> ev.ModelEvaluated:
    return ev.ModelEvaluated(meta=new_meta("evaluation", PROJECT), model_version_id=made.card.model_version_id,
                             evaluation_id=evaluation_id or f"eval-{made.card.model_version_id}", passed=passed)


@pytest.fixture(scope="module")
def deployed(env):
    d = Topic(env[4], ev.ModelDeployed)
    yield d
    d.close()


def wait_until(cond, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def answers(rest: str) -> bool:
    try:
        r = httpx.post(f"{rest}/v2/models/{NAME}/infer", timeout=10, json={"inputs": [
            {"name": "p", "shape": [1, 8, 8], "datatype": "UINT8", "data": raw_images(1).reshape(-1).tolist()}]})
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json()["outputs"][1]["data"][0] in ("zero", "one", "two")


def served_by(domain, model=NAME) -> str:
    """Which version answered one V2 request sent through the local gateway."""
    r = httpx.post(f"http://127.0.0.1:{domain.settings.gateway_port}/v2/models/{model}/infer", timeout=30,
                   json={"inputs": [{"name": "p", "shape": [1, 8, 8], "datatype": "UINT8",
                                     "data": raw_images(1).reshape(-1).tolist()}]})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][1]["data"][0] in ("zero", "one", "two")
    return r.headers["x-gristmill-model-version"]


def grpc_served_by(domain, model=NAME) -> str:
    """Which version answered one V2 ModelInfer sent through the gateway's gRPC port."""
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as v2
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as v2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{domain.settings.gateway_grpc_port}") as ch:
        req = v2.ModelInferRequest(model_name=model, inputs=[v2.ModelInferRequest.InferInputTensor(
            name="p", datatype="UINT8", shape=[1, 8, 8])], raw_input_contents=[raw_images(1).tobytes()])
        reply, call = v2_grpc.GRPCInferenceServiceStub(ch).ModelInfer.with_call(req, timeout=30)
    assert reply.model_name == model and len(reply.outputs) >= 1
    return dict(call.initial_metadata())["x-gristmill-model-version"]


def test_passing_evaluation_deploys_once(env, deployed):
    domain, stub, producer, versions, _ = env
    a = versions["a"]
    va = a.card.model_version_id
    # the evaluation may arrive before the card: the deployment waits for ModelTrained
    first = evaluated(a)
    publish(producer, first)
    publish(producer, evaluated(versions["c"], passed=False))  # a failed evaluation deploys nothing
    publish(producer, trained(a))
    event = deployed.wait_for(lambda e: e.model_version_id == va)
    assert event.model_name == NAME and event.canary_percent == 100 and event.previous_model_version_id == ""
    assert event.meta.correlation_id == first.meta.correlation_id and event.meta.causation_id == first.meta.event_id
    assert answers(event.rest_endpoint)
    assert event.grpc_endpoint.startswith("127.0.0.1:")
    # redelivery of the same event, and a new event for the same evaluation: no second rollout
    publish(producer, first)
    publish(producer, evaluated(a))
    sentinel = ev.ModelEvaluated(meta=new_meta("evaluation", "sentinel"), model_version_id="mv-sentinel",
                                 evaluation_id=f"eval-sentinel-{va}", passed=True)
    publish(producer, sentinel)  # same topic, one partition: handled after the duplicates
    wait_until(lambda: domain.count(model_version_id="mv-sentinel") == 1, what="sentinel")
    assert domain.count(model_version_id=va) == 1
    assert domain.count(model_version_id=versions["c"].card.model_version_id) == 0
    assert len([e for e in deployed.seen if e.model_version_id == va]) == 1


def test_canary_promote_and_rollback(env, deployed):
    domain, stub, producer, versions, _ = env
    va, vb = versions["a"].card.model_version_id, versions["b"].card.model_version_id
    stub.PutRolloutPolicy(pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(project=PROJECT, canary_percent=30)))
    publish(producer, trained(versions["b"]))
    publish(producer, evaluated(versions["b"]))
    canary_ev = deployed.wait_for(lambda e: e.model_version_id == vb)
    assert canary_ev.canary_percent == 30 and canary_ev.previous_model_version_id == va
    canary = stub.GetDeployment(pb.GetDeploymentRequest(deployment_id=canary_ev.deployment_id))
    split = {e.model_version_id: (e.traffic_percent, e.rest_endpoint) for e in canary.endpoints}
    assert {k: v[0] for k, v in split.items()} == {va: 70, vb: 30}
    assert answers(split[va][1]) and answers(split[vb][1])
    old_rest = split[va][1]
    served = [served_by(domain) for _ in range(200)]   # the gateway splits 70/30 (binomial sd 6.5 around 60)
    assert served.count(va) + served.count(vb) == 200 and 30 <= served.count(vb) <= 90, served.count(vb)
    served = [grpc_served_by(domain) for _ in range(200)]
    assert served.count(va) + served.count(vb) == 200 and 30 <= served.count(vb) <= 90, served.count(vb)

    promoted = stub.Promote(pb.PromoteRequest(deployment_id=canary.deployment_id))
    assert promoted.canary_percent == 100 and [e.model_version_id for e in promoted.endpoints] == [vb]
    assert {served_by(domain) for _ in range(20)} == {vb}   # even while the old route is still cached
    assert {grpc_served_by(domain) for _ in range(20)} == {vb}
    assert deployed.wait_for(lambda e: e.model_version_id == vb and e.canary_percent == 100)
    assert not answers(old_rest)  # the old version's server was stopped

    rolled = stub.Rollback(pb.RollbackRequest(deployment_id=canary.deployment_id))
    assert rolled.state == pb.DEPLOYMENT_STATE_ROLLED_BACK
    (now,) = rolled.endpoints
    assert now.model_version_id == va and now.traffic_percent == 100 and answers(now.rest_endpoint)
    assert {served_by(domain) for _ in range(20)} == {va}
    unknown = httpx.post(f"http://127.0.0.1:{domain.settings.gateway_port}/v2/models/nobody/infer", json={})
    assert unknown.status_code == 404 and "no READY deployment" in unknown.json()["error"]
    with pytest.raises(grpc.RpcError) as err:
        grpc_served_by(domain, "nobody")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "no READY deployment" in err.value.details()
    assert not answers(promoted.rest_endpoint)
    back = deployed.wait_for(lambda e: e.model_version_id == va and e.previous_model_version_id == vb)
    assert back.rest_endpoint == now.rest_endpoint
    assert stub.GetDeployment(pb.GetDeploymentRequest(deployment_id=back.deployment_id)).state == \
        pb.DEPLOYMENT_STATE_READY


def test_crashing_rollout_keeps_the_previous_version(env, deployed):
    domain, stub, producer, versions, _ = env
    c = versions["c"]
    stub.PutRolloutPolicy(pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(project=PROJECT, canary_percent=100)))
    publish(producer, trained(c, sha="0" * 64))   # the server refuses the card (checksum) and exits
    publish(producer, evaluated(c, evaluation_id="eval-c-2"))
    vc = c.card.model_version_id
    wait_until(lambda: domain.count(model_version_id=vc, state="FAILED") == 1, timeout=300, what="FAILED")
    (failed,) = domain.list(PROJECT, size=100)[0][:1]
    assert failed.model_version_id == vc and "exited with code 2" in failed.message
    assert "checksum" in failed.message and "keeps serving" in failed.message
    live = domain.endpoints(NAME)
    assert [e.model_version_id for e in live] == [versions["a"].card.model_version_id]
    assert answers(live[0].rest)
    assert not [e for e in deployed.seen if e.model_version_id == vc]


def test_a_crashed_server_is_restarted_on_its_endpoints(env, deployed):
    domain, stub, _, versions, _ = env
    (live,) = domain.endpoints(NAME)
    from services.deployment.models import ServerRow

    with domain.store.session() as s:
        pid = s.get(ServerRow, live.deployment_id).pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not answers(live.rest), timeout=30, what="the server to die")
    wait_until(lambda: answers(live.rest), timeout=300, what="the supervisor to restart it")

    def get():
        return stub.GetDeployment(pb.GetDeploymentRequest(deployment_id=live.deployment_id))

    wait_until(lambda: "restarted" in get().message, timeout=30, what="the restart to be recorded")
    again = get()
    assert again.state == pb.DEPLOYMENT_STATE_READY and again.rest_endpoint == live.rest
    with domain.store.session() as s:
        assert s.get(ServerRow, live.deployment_id).pid != pid
