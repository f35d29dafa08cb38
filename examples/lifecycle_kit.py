"""Shared plumbing for the example lifecycles: a broker, the training and evaluation services,
publishing a feature set the way preprocessing does, and waiting for the gate's verdict."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python examples/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

from gristmill.evaluation.v1 import evaluation_pb2 as epb  # noqa: E402
from gristmill.evaluation.v1 import evaluation_pb2_grpc as epb_grpc  # noqa: E402
from gristmill.training.v1 import training_pb2 as tpb  # noqa: E402
from gristmill.training.v1 import training_pb2_grpc as tpb_grpc  # noqa: E402
from services.common.artifacts import ArtifactStore  # noqa: E402
from services.common.bus import Publisher  # noqa: E402
from services.common.store import Store  # noqa: E402


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--executor", default="kfp-local", choices=["kfp-local", "inline"],
                   help="how training runs execute (default: the local Kubeflow Pipelines runner)")
    p.add_argument("--state-dir", default="", help="where the services keep state (default: a temp dir)")
    p.add_argument("--kafka", default=os.environ.get("GRISTMILL_KAFKA_BOOTSTRAP", ""),
                   help="broker address (default: GRISTMILL_KAFKA_BOOTSTRAP, else a local broker is started)")
    return p.parse_args()


class Platform:
    """Kafka + training + evaluation, in this process (training runs go where --executor says)."""

    def __init__(self, args: argparse.Namespace, project: str) -> None:
        import torch

        torch.set_num_threads(1)
        from services.evaluation.config import EvaluationSettings
        from services.evaluation.server import build as build_evaluation
        from services.training.config import TrainingSettings
        from services.training.server import build as build_training

        self.project = project
        self.state = Path(args.state_dir or tempfile.mkdtemp(prefix=f"gristmill-{project}-"))
        self.kafka = None
        bootstrap = args.kafka
        if not bootstrap:
            from services.common.kafka_local import LocalKafka, free_port

            self.kafka = LocalKafka(self.state / "kafka", port=free_port(), controller_port=free_port())
            self.kafka.start()
            bootstrap = self.kafka.bootstrap
        self.bootstrap = bootstrap
        common = dict(state_dir=self.state, port=0, metrics_port=0, kafka_bootstrap=bootstrap,
                      artifact_uri=(self.state / "artifacts").as_uri(), grace_seconds=1.0)
        self.training = build_training(TrainingSettings(service="training", executor=args.executor, torch_threads=1,
                                                        **common))
        self.evaluation = build_evaluation(EvaluationSettings(service="evaluation",
                                                              training_address=f"127.0.0.1:{self.training.port}",
                                                              **common))
        self.artifacts = ArtifactStore(common["artifact_uri"])
        self.t = tpb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{self.training.port}"))
        self.e = epb_grpc.EvaluationServiceStub(grpc.insecure_channel(f"127.0.0.1:{self.evaluation.port}"))
        print(f"platform up: training :{self.training.port}, evaluation :{self.evaluation.port}, kafka {bootstrap}, "
              f"executor {args.executor}, state {self.state}", flush=True)

    def publish(self, event) -> None:
        """Announce a feature set on Kafka, as the preprocessing service does."""
        store = Store(f"sqlite:///{self.state / 'example-publisher.db'}")
        pub = Publisher(store, self.bootstrap, "preprocessing")
        with store.session() as s:
            pub.stage(s, event)
        pub.flush()
        pub.close()

    def wait_evaluation(self, model_version_id: str = "", count: int = 1, timeout: float = 900) -> list:
        """Evaluations of the project (of one model when given), as the ModelTrained consumer makes them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [x for x in self.e.ListEvaluations(epb.ListEvaluationsRequest(project=self.project)).evaluations
                     if not model_version_id or x.model_version_id == model_version_id]
            if len(found) >= count:
                return found
            failed = [r for r in self.t.ListRuns(tpb.ListRunsRequest(project=self.project)).runs
                      if r.state == tpb.RUN_STATE_FAILED]
            if failed:
                raise SystemExit(f"training failed: {failed[0].message}")
            time.sleep(0.5)
        raise SystemExit("timed out waiting for the evaluation")

    def wait_run(self, run_id: str, timeout: float = 900) -> tpb.Run:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.t.GetRun(tpb.GetRunRequest(run_id=run_id))
            if run.state == tpb.RUN_STATE_SUCCEEDED:
                return run
            if run.state in (tpb.RUN_STATE_FAILED, tpb.RUN_STATE_CANCELLED):
                raise SystemExit(f"run {run_id} {tpb.RunState.Name(run.state)}: {run.message}")
            time.sleep(0.5)
        raise SystemExit(f"timed out waiting for run {run_id}")

    def close(self) -> None:
        self.evaluation.stop()
        self.training.stop()
        if self.kafka is not None:
            self.kafka.stop()


def describe(evaluation, title: str) -> None:
    test = {s.split: s for s in evaluation.splits}.get("test")
    print(f"\n== {title}: {evaluation.model_version_id}")
    if test is not None:
        print("   test: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(test.metrics.items())))
    print(f"   diagnosis: {evaluation.diagnosis.verdict}")
    for line in evaluation.diagnosis.evidence:
        print(f"     - {line}")
    for line in evaluation.diagnosis.recommendations:
        print(f"     * {line}")
    print(f"   gate ({evaluation.gate_metric} on {evaluation.gate_split}): {'PASS' if evaluation.passed else 'FAIL'}")
    for line in evaluation.reasons:
        print(f"     - {line}")
