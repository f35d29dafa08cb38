"""The model half of `make demo`: train, evaluate, deploy, serve, drift, retrain, gate, promote.

Everything after the feature set is driven by events; the demo only sends traffic (as clients would),
ground truth (as a feedback loop would) and, once drift is reported, fresh labeled data (as the data
team would).
"""

from __future__ import annotations

import asyncio
import io
import time

import grpc
import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest
from rich.table import Table
from sklearn.datasets import load_digits

from gristmill.deployment.v1 import deployment_pb2 as dep
from gristmill.deployment.v1 import deployment_pb2_grpc as dep_grpc
from gristmill.evaluation.v1 import evaluation_pb2 as evl
from gristmill.evaluation.v1 import evaluation_pb2_grpc as evl_grpc
from gristmill.ingestion.v1 import ingestion_pb2_grpc as ing_grpc
from gristmill.monitoring.v1 import monitoring_pb2 as mon
from gristmill.monitoring.v1 import monitoring_pb2_grpc as mon_grpc
from gristmill.training.v1 import training_pb2 as trn
from gristmill.training.v1 import training_pb2_grpc as trn_grpc
from services.common import config
from services.deployment.config import DeploymentSettings
from services.ingestion import client as upload_client


def shifted(images: np.ndarray) -> np.ndarray:
    """Production drifts: the digits arrive rotated by 90 degrees."""
    return np.rot90(images, k=1, axes=(1, 2)).copy()


def as_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(images * (255 / 16)).astype(np.uint8)


def gateway() -> tuple[str, str]:
    """The deployment service's local model gateway (REST URL, gRPC target): addresses that follow promotions."""
    s = config.load(DeploymentSettings, "deployment")
    return f"http://127.0.0.1:{s.gateway_port}", f"127.0.0.1:{s.gateway_grpc_port}"


class Traffic:
    """Clients of the deployed model through the model gateway, V2 gRPC and V2 REST, with ground truth
    sent back as feedback."""

    def __init__(self, model_name: str, monitoring: mon_grpc.MonitoringServiceStub):
        self.rest_url, self.grpc_url = gateway()
        self.model_name, self.monitoring = model_name, monitoring
        self.counter = 0

    async def _grpc(self, batch: np.ndarray, request_id: str) -> np.ndarray:
        client = InferenceGRPCClient(url=self.grpc_url, timeout=30)
        try:
            inp = InferInput(name="images", shape=list(batch.shape), datatype="UINT8")
            inp.set_data_from_numpy(batch)
            res = await client.infer(InferRequest(model_name=self.model_name, infer_inputs=[inp],
                                                  request_id=request_id))
            return _labels(res.outputs)
        finally:
            await client.close()

    def _rest(self, batch: np.ndarray, request_id: str, http: httpx.Client) -> np.ndarray:
        body = {"id": request_id, "inputs": [{"name": "images", "shape": list(batch.shape), "datatype": "UINT8",
                                              "data": batch.reshape(-1).tolist()}]}
        res = http.post(f"{self.rest_url}/v2/models/{self.model_name}/infer", json=body, timeout=30)
        res.raise_for_status()
        out = {o["name"]: o for o in res.json()["outputs"]}
        return np.asarray(out["label"]["data"]) if "label" in out else \
            np.asarray(out["probabilities"]["data"]).reshape(len(batch), -1).argmax(1).astype(str)

    def send(self, images: np.ndarray, labels: np.ndarray) -> float:
        """One request per image, alternating V2 gRPC and V2 REST, then its ground truth; the accuracy."""
        correct = 0
        with httpx.Client() as http:
            for x, y in zip(images, labels, strict=True):
                self.counter += 1
                rid = f"demo-{self.counter}-{time.time_ns()}"
                batch = x[None]
                pred = asyncio.run(self._grpc(batch, rid)) if self.counter % 2 else self._rest(batch, rid, http)
                correct += int(pred[0] == str(y))
                # the ground truth arrives later, joined to the logged prediction by request id
                self.monitoring.SubmitFeedback(mon.SubmitFeedbackRequest(request_id=rid, ground_truth=str(y)))
        return correct / len(images)


def _labels(outputs) -> np.ndarray:
    by_name = {o.name: o for o in outputs}
    if "label" in by_name:
        return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in by_name["label"].as_numpy()])
    return by_name["probabilities"].as_numpy().argmax(1).astype(str)


def model_half(ctx) -> None:
    """ctx: the data-half demo's context (platform, stages, channel, project, wait_for, console)."""
    console, wait_for, project = ctx.console, ctx.wait_for, ctx.project
    training = trn_grpc.TrainingServiceStub(ctx.channel("training"))
    evaluation = evl_grpc.EvaluationServiceStub(ctx.channel("evaluation"))
    deployment = dep_grpc.DeploymentServiceStub(ctx.channel("deployment"))
    monitoring = mon_grpc.MonitoringServiceStub(ctx.channel("monitoring"))

    def versions():
        return list(training.ListModelVersions(trn.ListModelVersionsRequest(project=project)).model_versions)

    def evaluations():
        return list(evaluation.ListEvaluations(evl.ListEvaluationsRequest(project=project)).evaluations)

    def ready_deployments():
        return [d for d in deployment.ListDeployments(dep.ListDeploymentsRequest(project=project)).deployments
                if d.state == dep.DEPLOYMENT_STATE_READY]

    # --- train (FeaturesReady -> training through the kfp local runner) -------------------------
    run = wait_for(lambda: next(iter(training.ListRuns(trn.ListRunsRequest(project=project)).runs), None), 120,
                   "the training run that FeaturesReady starts")
    epochs = Table("epoch", "train loss", "val loss", "train acc", "val acc", "s", title=f"training {run.run_id}")
    for m in training.StreamRunMetrics(trn.StreamRunMetricsRequest(run_id=run.run_id)):
        epochs.add_row(str(m.epoch), f"{m.train_loss:.3f}", f"{m.val_loss:.3f}", f"{m.train_metric:.3f}",
                       f"{m.val_metric:.3f}", f"{m.seconds:.1f}")
    console.print(epochs)
    mv1 = wait_for(lambda: next(iter(versions()), None), 300, "the trained model version")
    ctx.stages.done("trained (kfp local runner)", f"{mv1.model_version_id}: {mv1.architecture}, "
                    f"val accuracy {mv1.metrics.get('val_accuracy', float('nan')):.3f}; "
                    f"curve {mv1.curve_plot.uri}")

    # --- evaluate (ModelTrained -> evaluation) --------------------------------------------------
    ev1 = wait_for(lambda: next((e for e in evaluations() if e.model_version_id == mv1.model_version_id), None),
                   300, "the evaluation of the first model")
    show_evaluation(console, ev1)
    ctx.stages.done("evaluated", f"{'PASSED' if ev1.passed else 'FAILED'} the gate: {'; '.join(ev1.reasons)}")
    if not ev1.passed:
        raise SystemExit("the first model did not pass the gate; nothing to deploy")

    # --- deploy (ModelEvaluated -> deployment -> KServe ModelServer) ----------------------------
    d1 = wait_for(lambda: next((d for d in ready_deployments() if d.model_version_id == mv1.model_version_id),
                               None), 180, "the deployment of the first model")
    traffic = Traffic(d1.model_name, monitoring)
    ctx.stages.done("deployed with KServe", f"{d1.model_name} {d1.model_version_id}: REST {d1.rest_endpoint}, "
                    f"gRPC {d1.grpc_endpoint}; gateway REST {traffic.rest_url}, gRPC {traffic.grpc_url}")

    # --- traffic ---------------------------------------------------------------------------------
    digits = load_digits()
    images, labels = as_uint8(digits.images), digits.target
    rng = np.random.default_rng(7)
    order = rng.permutation(len(images))
    normal_idx, shift_idx = order[:300], order[300:600]
    acc_normal = traffic.send(images[normal_idx], labels[normal_idx])

    def performance(min_labeled: int):  # logs reach monitoring through Kafka, a moment later
        try:
            p = monitoring.GetPerformance(mon.GetPerformanceRequest(model_name=d1.model_name))
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return p if p.labeled >= min_labeled else None

    perf = wait_for(lambda: performance(len(normal_idx)), 120, "monitoring to join the logged requests")
    ctx.stages.done("served normal traffic", f"300 requests over V2 gRPC and REST: accuracy {acc_normal:.3f}; "
                    f"realized accuracy (feedback joined) {perf.accuracy:.3f}; latency p50 "
                    f"{perf.latency_p50_ms:.1f} ms, p99 {perf.latency_p99_ms:.1f} ms; CPU {perf.cpu_percent:.0f}%, "
                    f"memory {perf.memory_mb:.0f} MB")

    acc_shifted = traffic.send(shifted(images[shift_idx]), labels[shift_idx])
    report = wait_for(lambda: next((r for r in monitoring.ListDriftReports(
        mon.ListDriftReportsRequest(model_name=d1.model_name)).reports if r.dataset_drift), None), 240,
        "a drift report on the shifted window")
    ctx.stages.done("drift detected (Evidently)", f"rotated digits: accuracy {acc_shifted:.3f}; drift share "
                    f"{report.drift_share:.2f} >= {report.drift_share_threshold:.2f} over {report.window_rows} "
                    f"rows; report {report.html.uri}")
    wait_for(lambda: (p := training.GetTrainingPolicy(trn.GetTrainingPolicyRequest(project=project)))
                      .retrain_pending and p, 120, "training to take note of the drift")
    ctx.stages.done("retrain requested", "training waits for fresh data (retrain_pending)")

    # --- fresh labeled data: the originals plus rotated examples ---------------------------------
    buf = io.BytesIO()
    np.savez(buf, x=np.concatenate([images, shifted(images)]), y=np.concatenate([labels, labels]))
    ingestion = ing_grpc.IngestionServiceStub(ctx.channel("ingestion"))
    res = upload_client.upload(ingestion, ctx.dataset_id, buf.getvalue(), filename="fresh.npz",
                               correlation_id=ctx.correlation_id + "-retrain")
    ctx.stages.done("fresh labeled data ingested", f"{res.version.num_rows} rows -> {res.version.version_id} "
                    "(labeled: labeling lets it through by policy)")
    mv2 = wait_for(lambda: next((v for v in versions() if v.model_version_id != mv1.model_version_id), None), 600,
                   "the retrained model")
    ctx.stages.done("retrained", f"{mv2.model_version_id} (trigger {mv2.trigger}), val accuracy "
                    f"{mv2.metrics.get('val_accuracy', float('nan')):.3f}")
    ev2 = wait_for(lambda: next((e for e in evaluations() if e.model_version_id == mv2.model_version_id), None),
                   300, "the gate on the retrained model")
    show_evaluation(console, ev2)
    ctx.stages.done("gated", f"{'PASSED' if ev2.passed else 'FAILED'}: {'; '.join(ev2.reasons)}")
    if ev2.passed:
        d2 = wait_for(lambda: next((d for d in ready_deployments() if d.model_version_id == mv2.model_version_id),
                                   None), 180, "the promotion of the retrained model")
        # same gateway addresses as before: the gateway follows the promotion
        acc_after = traffic.send(shifted(images[shift_idx[:100]]), labels[shift_idx[:100]])
        ctx.stages.done("promoted", f"{d2.model_version_id} replaced {d2.previous_model_version_id}; rotated "
                        f"digits now {acc_after:.3f} accurate (was {acc_shifted:.3f})")
    else:
        ctx.stages.done("kept the live model", "the candidate did not beat it; deployment left it serving")


def show_evaluation(console, e: evl.Evaluation) -> None:
    t = Table("split", "accuracy", "precision (macro)", "recall (macro)", "F1 (macro)", "F1 (weighted)",
              "ROC-AUC", title=f"evaluation {e.evaluation_id} of {e.model_version_id}")
    for sm in e.splits:
        m = sm.metrics
        t.add_row(sm.split, *(f"{m[k]:.3f}" if k in m else "-" for k in
                              ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "roc_auc")))
    console.print(t)
    console.print(f"diagnosis: [bold]{e.diagnosis.verdict}[/bold]; " + "; ".join(e.diagnosis.evidence))
    for r in e.diagnosis.recommendations:
        console.print(f"  - {r}")
