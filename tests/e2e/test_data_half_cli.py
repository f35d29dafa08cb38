"""The data half end to end through the CLI's platform: real processes, real broker, events only.

iris arrives without labels; the applied policy opens a labeling job; two simulated annotators
answer it over gRPC; the labeled version drives preprocessing to a feature set.
"""

from __future__ import annotations

import time

import grpc
import pytest
from sklearn.datasets import load_iris

from gristmill.ingestion.v1 import ingestion_pb2 as ing
from gristmill.ingestion.v1 import ingestion_pb2_grpc as ing_grpc
from gristmill.labeling.v1 import labeling_pb2 as lab
from gristmill.labeling.v1 import labeling_pb2_grpc as lab_grpc
from gristmill.preprocessing.v1 import preprocessing_pb2 as pre
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pre_grpc
from services.cli import main as cli
from services.cli.annotators import Annotator, annotate
from services.cli.demo import wait_for
from services.cli.platform import Platform
from services.common.config import SERVICE_PORTS
from services.common.kafka_local import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SPEC = """
apiVersion: gristmill.io/v1
kind: Lifecycle
metadata: {name: iris-e2e}
spec:
  data: {dataset: iris}
  labeling:
    schema: {kind: class, classes: [setosa, versicolor, virginica]}
    overlap: 2
    minCoverage: 1.0
    autoFinalize: true
  features:
    labelColumn: label
    task: classification
    scaling: standard
    split: {train: 0.6, validation: 0.2, test: 0.2, seed: 1, stratify: true}
"""
SERVICES = ["ingestion", "labeling", "preprocessing"]


@pytest.fixture
def platform(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GRISTMILL_LOCAL_KAFKA_PORT", str(free_port()))
    monkeypatch.delenv("GRISTMILL_KAFKA_BOOTSTRAP", raising=False)
    for name in SERVICE_PORTS:
        monkeypatch.setenv(f"GRISTMILL_{name.upper()}_PORT", str(free_port()))
        monkeypatch.setenv(f"GRISTMILL_{name.upper()}_METRICS_PORT", "0")
    monkeypatch.setenv("GRISTMILL_DEPLOYMENT_GATEWAY_PORT", str(free_port()))
    monkeypatch.setenv("GRISTMILL_DEPLOYMENT_GATEWAY_GRPC_PORT", str(free_port()))
    p = Platform()
    p.up(SERVICES, timeout=180)
    yield p
    p.down()


def test_iris_unlabeled_to_feature_set_through_events(platform, tmp_path):
    assert all(s.healthy for s in platform.status() if s.name in SERVICES)
    spec = tmp_path / "lifecycle.yaml"
    spec.write_text(SPEC)
    assert cli.main(["apply", "-f", str(spec)]) == 0

    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("overlap: 2", "overlapp: 2"))
    assert cli.main(["apply", "-f", str(bad)]) == 2  # rejected before any service is touched

    iris = load_iris()
    truth = [str(iris.target_names[t]) for t in iris.target]
    ch = lambda svc: grpc.insecure_channel(f"127.0.0.1:{platform.port(svc)}")  # noqa: E731
    with ch("ingestion") as c:
        stub = ing_grpc.IngestionServiceStub(c)
        ds = next(d for d in stub.ListDatasets(ing.ListDatasetsRequest(project="iris-e2e")).datasets)
        stub.IngestSampleSet(ing.IngestSampleSetRequest(dataset_id=ds.dataset_id, name="iris", drop_labels=True))
    with ch("labeling") as c:
        stub = lab_grpc.LabelingServiceStub(c)
        job = wait_for(lambda: next(iter(stub.ListJobs(lab.ListJobsRequest(project="iris-e2e")).jobs), None),
                       60, "labeling job")
        assert job.num_items == 150 and job.overlap == 2
        annotate(c, job.job_id, [Annotator("a", 1.0), Annotator("b", 1.0)], truth,
                 ["setosa", "versicolor", "virginica"])
        stats = stub.GetJobStats(lab.GetJobStatsRequest(job_id=job.job_id))
        assert stats.coverage == 1.0 and stats.fleiss_kappa == pytest.approx(1.0)
    with ch("preprocessing") as c:
        stub = pre_grpc.PreprocessingServiceStub(c)
        fs = wait_for(lambda: next(iter(stub.ListFeatureSets(pre.ListFeatureSetsRequest(project="iris-e2e"))
                                        .feature_sets), None), 120, "feature set")
    assert dict(fs.split_rows) == {"train": 90, "validation": 30, "test": 30}
    assert fs.num_classes == 3 and list(fs.input_shape) == [4]

    platform.down()
    time.sleep(0.5)
    assert not any(s.alive for s in platform.status())
    assert not platform.kafka.is_running()
