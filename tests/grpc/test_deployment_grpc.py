"""DeploymentService over real gRPC (port 0) in local mode: real ModelServer processes, every RPC's error
codes. One READY deployment is shared by the module (a ModelServer costs seconds to start)."""

from __future__ import annotations

import grpc
import httpx
import pytest

from gristmill.common.v1 import common_pb2
from gristmill.deployment.v1 import deployment_pb2 as pb
from gristmill.deployment.v1 import deployment_pb2_grpc as pb_grpc
from services.common.artifacts import ArtifactStore
from services.common.grpc_server import channel_options
from services.deployment.config import DeploymentSettings
from services.deployment.server import build
from services.serving.testing import make_version

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
Code = grpc.StatusCode


@pytest.fixture(scope="module")
def svc(tmp_path_factory, kafka_bootstrap):
    tmp = tmp_path_factory.mktemp("deployment-grpc")
    settings = DeploymentSettings(service="deployment", state_dir=tmp, port=0, metrics_port=0, grace_seconds=0.5,
                                  kafka_bootstrap=kafka_bootstrap, artifact_uri=(tmp / "artifacts").as_uri(),
                                  ready_timeout=240, serving_log_sample_rate=0.0, gateway_port=0)
    artifacts = ArtifactStore(settings.artifact_uri)
    versions = {v: make_version(artifacts, "image", project="grpc-p", version_id=v, seed=i)
                for i, v in enumerate(("mv-g1", "mv-g2"))}
    running, domain = build(settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    yield pb_grpc.DeploymentServiceStub(channel), domain, versions
    channel.close()
    running.stop()


def ref(made, sha=None):
    return common_pb2.ArtifactRef(uri=made.card_ref.uri, sha256=sha if sha is not None else made.card_ref.sha256)


def code_of(fn):
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()


@pytest.fixture(scope="module")
def live(svc):
    stub, _, versions = svc
    dep = stub.Deploy(pb.DeployRequest(project="grpc-p", model_name="digits", model_version_id="mv-g1",
                                       model_card=ref(versions["mv-g1"]), wait=True))
    assert dep.state == pb.DEPLOYMENT_STATE_READY, dep.message
    return dep


def test_deploy_validation_changes_nothing(svc):
    stub, domain, versions = svc
    good = ref(versions["mv-g1"])
    cases = [
        (pb.DeployRequest(model_version_id="mv-g1", model_card=good), Code.INVALID_ARGUMENT, "project"),
        (pb.DeployRequest(project="grpc-p", model_card=good), Code.INVALID_ARGUMENT, "model_version_id"),
        (pb.DeployRequest(project="grpc-p", model_version_id="mv-g1", canary_percent=150, model_card=good),
         Code.INVALID_ARGUMENT, "canary_percent"),
        (pb.DeployRequest(project="grpc-p", model_version_id="mv-g1", model_name="Not_DNS", model_card=good),
         Code.INVALID_ARGUMENT, "DNS-1035"),
        (pb.DeployRequest(project="grpc-p", model_version_id="mv-g1", model_card=ref(versions["mv-g1"], "")),
         Code.INVALID_ARGUMENT, "sha256"),
        (pb.DeployRequest(project="grpc-p", model_version_id="mv-g1", ready_timeout_seconds=-1, model_card=good),
         Code.INVALID_ARGUMENT, "ready_timeout"),
        (pb.DeployRequest(project="grpc-p", model_version_id="mv-nope"), Code.NOT_FOUND, "unknown"),
        (pb.DeployRequest(project="grpc-p", model_version_id="mv-g1",
                          model_card=common_pb2.ArtifactRef(uri=good.uri[:-4] + "0000", sha256="ab")),
         Code.NOT_FOUND, "does not exist"),
    ]
    for req, code, words in cases:
        got, details = code_of(lambda req=req: stub.Deploy(req))
        assert got == code and words in details, (req, got, details)
    assert domain.count() == 0


def test_ready_deployment_is_described_and_serves(svc, live):
    stub, _, _ = svc
    assert live.rest_endpoint.startswith("http://127.0.0.1:") and live.grpc_endpoint.startswith("127.0.0.1:")
    assert live.canary_percent == 100 and live.mode == "local" and live.created_at.seconds > 0
    assert [(e.model_version_id, e.traffic_percent) for e in live.endpoints] == [("mv-g1", 100)]
    assert httpx.get(f"{live.rest_endpoint}/v2/models/digits/ready").status_code == 200
    got = stub.GetDeployment(pb.GetDeploymentRequest(deployment_id=live.deployment_id))
    assert got.deployment_id == live.deployment_id and got.state == pb.DEPLOYMENT_STATE_READY
    # the same version again is refused; promoting a full rollout or rolling back the first one too
    code, details = code_of(lambda: stub.Deploy(pb.DeployRequest(project="grpc-p", model_name="digits",
                                                                 model_version_id="mv-g1")))
    assert code == Code.ALREADY_EXISTS and live.deployment_id in details
    code, details = code_of(lambda: stub.Promote(pb.PromoteRequest(deployment_id=live.deployment_id)))
    assert code == Code.FAILED_PRECONDITION and "100%" in details
    code, details = code_of(lambda: stub.Rollback(pb.RollbackRequest(deployment_id=live.deployment_id)))
    assert code == Code.FAILED_PRECONDITION and "no previous version" in details
    # another project may not take over the name
    code, _ = code_of(lambda: stub.Deploy(pb.DeployRequest(project="other", model_name="digits",
                                                           model_version_id="mv-x", model_card=ref(svc[2]["mv-g2"]))))
    assert code in (Code.FAILED_PRECONDITION, Code.INVALID_ARGUMENT)


def test_rollout_that_is_never_ready_fails_and_keeps_the_previous(svc, live):
    stub, _, versions = svc
    dep = stub.Deploy(pb.DeployRequest(project="grpc-p", model_name="digits", model_version_id="mv-g2",
                                       model_card=ref(versions["mv-g2"]), canary_percent=50, wait=True,
                                       ready_timeout_seconds=0.3))
    assert dep.state == pb.DEPLOYMENT_STATE_FAILED
    assert "not ready within 0.3 s" in dep.message and "mv-g1 keeps serving" in dep.message
    assert [(e.model_version_id, e.traffic_percent) for e in dep.endpoints] == [("mv-g1", 100)]
    assert httpx.get(f"{live.rest_endpoint}/v2/models/digits/ready").status_code == 200
    for call in (lambda: stub.Promote(pb.PromoteRequest(deployment_id=dep.deployment_id)),
                 lambda: stub.Rollback(pb.RollbackRequest(deployment_id=dep.deployment_id))):
        code, details = code_of(call)
        assert code == Code.FAILED_PRECONDITION and "FAILED" in details


def test_lookup_and_listing_errors(svc, live):
    stub, _, _ = svc
    for call in (stub.GetDeployment, stub.Promote, stub.Rollback):
        req_cls = {stub.GetDeployment: pb.GetDeploymentRequest, stub.Promote: pb.PromoteRequest,
                   stub.Rollback: pb.RollbackRequest}[call]
        assert code_of(lambda c=call, r=req_cls: c(r()))[0] == Code.INVALID_ARGUMENT
        assert code_of(lambda c=call, r=req_cls: c(r(deployment_id="dep-missing")))[0] == Code.NOT_FOUND
    assert code_of(lambda: stub.ListDeployments(pb.ListDeploymentsRequest(page_token="bogus")))[0] == \
        Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.ListDeployments(pb.ListDeploymentsRequest(page_size=-1)))[0] == Code.INVALID_ARGUMENT
    page = stub.ListDeployments(pb.ListDeploymentsRequest(project="grpc-p", page_size=1))
    assert len(page.deployments) == 1 and page.next_page_token
    rest = stub.ListDeployments(pb.ListDeploymentsRequest(project="grpc-p", page_token=page.next_page_token))
    ids = {d.deployment_id for d in (*page.deployments, *rest.deployments)}
    assert live.deployment_id in ids and not rest.next_page_token
    assert stub.ListDeployments(pb.ListDeploymentsRequest(project="nobody")).deployments == []
    by_name = stub.ListDeployments(pb.ListDeploymentsRequest(model_name="digits", page_size=100))
    assert {d.model_name for d in by_name.deployments} == {"digits"}


def test_rollout_policy(svc):
    stub, _, _ = svc
    got = stub.GetRolloutPolicy(pb.GetRolloutPolicyRequest(project="Fresh Project"))
    assert (got.model_name, got.canary_percent, got.manual_approval) == ("fresh-project", 100, False)
    put = stub.PutRolloutPolicy(pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(
        project="grpc-q", model_name="q-model", canary_percent=20, manual_approval=True, ready_timeout_seconds=9)))
    assert (put.model_name, put.canary_percent, put.manual_approval, put.ready_timeout_seconds) == \
        ("q-model", 20, True, 9)
    assert stub.GetRolloutPolicy(pb.GetRolloutPolicyRequest(project="grpc-q")).canary_percent == 20
    for bad in (pb.PutRolloutPolicyRequest(),
                pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(model_name="x")),
                pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(project="p", canary_percent=-1)),
                pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(project="p", model_name="UPPER")),
                pb.PutRolloutPolicyRequest(policy=pb.RolloutPolicy(project="p", ready_timeout_seconds=-2))):
        assert code_of(lambda b=bad: stub.PutRolloutPolicy(b))[0] == Code.INVALID_ARGUMENT
    assert code_of(lambda: stub.GetRolloutPolicy(pb.GetRolloutPolicyRequest()))[0] == Code.INVALID_ARGUMENT
