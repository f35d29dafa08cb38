"""The real training pipeline on kfp.local's SubprocessRunner, and a run killed mid-way and resumed.

Both start real processes: the local driver (`python -m pipelines.local_driver`, which the
training service starts for every local run) and, for the kill test, the training service itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from gristmill.training.v1 import training_pb2 as pb
from gristmill.training.v1 import training_pb2_grpc as pb_grpc
from services.common import modelzoo
from services.common.artifacts import ArtifactStore
from services.common.bus import Publisher
from services.common.kafka_local import free_port
from services.common.store import Store
from services.training import samples
from services.training.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]


def digits_job(tmp_path: Path, run_id: str = "run-kfp", epochs: int = 3) -> tuple[dict, ArtifactStore]:
    artifacts = ArtifactStore((tmp_path / "artifacts").as_uri())
    splits, _ = samples.digits()
    data = {}
    for name, (x, y) in splits.items():
        a = artifacts.put_bytes(samples.npz_bytes(x, y))
        data[name] = {"uri": a.uri, "sha256": a.sha256, "size_bytes": a.size_bytes}
    run_dir = tmp_path / "runs" / run_id
    job = {"run_id": run_id, "project": "p", "feature_set_id": "fs-digits", "task": "classification",
           "architecture": "cnn", "params": modelzoo.resolve_params("cnn", {"channels": [8, 16], "hidden": [32]}),
           "input_shape": [1, 8, 8], "num_outputs": 10, "class_names": [str(i) for i in range(10)],
           "hparams": {"epochs": epochs, "learning_rate": 0.005, "batch_size": 32, "optimizer": "adam"},
           "data": data, "artifact_uri": artifacts.root_uri, "s3_endpoint_url": "", "run_dir": run_dir.as_uri(),
           "threads": 1, "finetune": None, "pipeline_root": str(run_dir / "kfp")}
    run_dir.mkdir(parents=True)
    (run_dir / "job.json").write_text(json.dumps(job))
    return job, artifacts


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_digits_cnn_through_the_local_kfp_runner(tmp_path):
    job, artifacts = digits_job(tmp_path)
    run_dir = Path(job["pipeline_root"]).parent
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.local_driver", str(run_dir / "job.json")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=840)
    wall = time.perf_counter() - t0
    print(f"\ndigits CNN, 3 epochs, load-features -> train -> evaluate on kfp.local: {wall:.1f} s wall")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for task in ("load-features", "train-model", "evaluate-model"):
        assert f"Task \x1b[96m'{task}'\x1b[0m finished with status \x1b[92mSUCCESS" in proc.stdout + proc.stderr

    result = json.loads((run_dir / "result.json").read_text())
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3]
    assert result["metrics"]["val_accuracy"] > 0.5 and 0.5 < result["test_metrics"]["test_accuracy"] <= 1
    weights = artifacts.read_bytes(result["weights"]["uri"], result["weights"]["sha256"])
    # the KFP Model artifact holds the same safetensors bytes
    [model_file] = list((run_dir / "kfp").glob("gristmill-training-*/train-model/model"))
    assert model_file.read_bytes() == weights
    [metrics_file] = list((run_dir / "kfp").glob("gristmill-training-*/evaluate-model/executor_output.json"))
    assert "test_accuracy" in metrics_file.read_text()
    rd = RunDir(job["run_dir"])
    assert [e["epoch"] for e in rd.epochs()] == [1, 2, 3] and rd.checkpoint_epoch() == 3

    card = modelzoo.ModelCard(task="classification", architecture="cnn", params=job["params"], input_shape=[1, 8, 8],
                              num_outputs=10, framework="torch")
    splits, _ = samples.digits()
    acc = float((modelzoo.load_model(card, weights).predict(splits["test"][0]).argmax(1) == splits["test"][1]).mean())
    assert abs(acc - result["test_metrics"]["test_accuracy"]) < 1e-9


def _start_service(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "services.training"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(env["LOGFILE"], "ab"), start_new_session=True)  # noqa: SIM115


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except grpc.RpcError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last}")


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(900)
def test_killed_service_resumes_the_run_from_its_checkpoint(tmp_path, kafka_bootstrap):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "GRISTMILL_STATE_DIR": str(tmp_path / "state"), "GRISTMILL_TRAINING_PORT": str(port),
           "GRISTMILL_TRAINING_METRICS_PORT": "0", "GRISTMILL_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "GRISTMILL_ARTIFACT_URI": (tmp_path / "artifacts").as_uri(), "GRISTMILL_TRAINING_EXECUTOR": "kfp-local",
           "GRISTMILL_TRAINING_PIPELINE_EVALUATE": "false", "GRISTMILL_TRAINING_TORCH_THREADS": "1",
           "LOGFILE": str(tmp_path / "service.log")}
    # the feature set arrives the way it does in production: a FeaturesReady on Kafka
    artifacts = ArtifactStore(env["GRISTMILL_ARTIFACT_URI"])
    splits, _ = samples.digits()
    event = samples.publish(artifacts, "p", "classification", splits, num_classes=10)
    outbox = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
    pub = Publisher(outbox, kafka_bootstrap, "preprocessing")
    with outbox.session() as s:
        pub.stage(s, event)
    pub.flush()
    pub.close()

    service = _start_service(env)
    stub = pb_grpc.TrainingServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    model = pb.ModelSpec(architecture="cnn")
    model.params.update({"channels": [8, 16], "hidden": [32]})
    request = pb.SubmitRunRequest(spec=pb.TrainingSpec(project="p", feature_set_id=event.feature_set_id, model=model,
                                                       params=pb.TrainingParams(epochs=30, learning_rate=0.003,
                                                                                batch_size=16)))
    run = _wait(lambda: stub.SubmitRun(request, timeout=60), 240, "the service to know the feature set")
    first = _wait(lambda: (r := stub.GetRun(pb.GetRunRequest(run_id=run.run_id))).epochs_done >= 2 and r, 600,
                  "two epochs")
    driver_pid = int((tmp_path / "state" / "runs" / run.run_id / "driver.pid").read_text())
    os.killpg(service.pid, signal.SIGKILL)  # the service dies mid-run; its driver is orphaned
    service.wait()
    killed_at = first.epochs_done
    assert killed_at < 30, "the run finished before it could be killed"

    service = _start_service(env)
    try:
        done = _wait(lambda: (r := stub.GetRun(pb.GetRunRequest(run_id=run.run_id), timeout=10)).state in (
            pb.RUN_STATE_SUCCEEDED, pb.RUN_STATE_FAILED, pb.RUN_STATE_CANCELLED) and r, 700, "the resumed run")
        assert done.state == pb.RUN_STATE_SUCCEEDED, done.message
        assert done.attempts == 2 and done.resumed_from_epoch >= killed_at, done
        assert done.epochs_done == 30
        with pytest.raises(ProcessLookupError):
            os.kill(driver_pid, 0)  # the orphaned driver was stopped, not left training in parallel
        epochs = [m.epoch for m in stub.StreamRunMetrics(pb.StreamRunMetricsRequest(run_id=run.run_id))]
        assert epochs == list(range(1, 31))
        mv = stub.GetModelVersion(pb.GetModelVersionRequest(model_version_id=done.model_version_id))
        card = modelzoo.ModelCard.from_json(artifacts.read_bytes(mv.model_card.uri, mv.model_card.sha256))
        assert card.training["resumed_from_epoch"] == done.resumed_from_epoch
        assert len(card.training["history"]) == 30 and mv.metrics["val_accuracy"] > 0.8
        probs = modelzoo.load_model(card, artifacts.read_bytes(card.weights_uri)).predict(splits["test"][0])
        assert float((probs.argmax(1) == splits["test"][1]).mean()) > 0.8
        assert np.isfinite(probs).all()
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        service.wait(timeout=60)
