"""`make demo`: the lifecycle end to end on the embedded defaults, driven by events.

Starts the local platform, applies examples/digits/lifecycle.yaml under a fresh project name, ingests
the digits images WITHOUT labels and lets the events do the rest: labeling opens a job (policy),
simulated annotators answer it over gRPC, the labeled version triggers preprocessing, and so on down
the chain. Prints what happened, with counts, agreement, timings and where the artifacts are.
"""

from __future__ import annotations

import itertools
import shutil
import time
from types import SimpleNamespace

import grpc
from kafka import KafkaConsumer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sklearn.datasets import load_digits

from gristmill.ingestion.v1 import ingestion_pb2 as ing
from gristmill.ingestion.v1 import ingestion_pb2_grpc as ing_grpc
from gristmill.labeling.v1 import labeling_pb2 as lab
from gristmill.labeling.v1 import labeling_pb2_grpc as lab_grpc
from gristmill.preprocessing.v1 import preprocessing_pb2 as pre
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pre_grpc
from services.cli import lifecycle
from services.cli.annotators import Annotator, annotate
from services.cli.platform import ROOT, Platform
from services.common.bus import BY_TOPIC
from services.common.config import default_state_dir
from services.common.grpc_server import channel_options

console = Console()
SPEC = ROOT / "examples" / "digits" / "lifecycle.yaml"
CROWD = [Annotator("ann-ada", 0.97), Annotator("ann-bo", 0.93), Annotator("ann-cy", 0.88),
         Annotator("ann-dee", 0.55)]  # one careless annotator, whom gold items expose
GOLD_ITEMS = 60
MODEL_HALF = {"training", "evaluation", "deployment", "monitoring"}


def wait_for(fn, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class Stages:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.last = self.t0
        self.rows: list[tuple[str, float, str]] = []

    def done(self, name: str, detail: str) -> None:
        now = time.monotonic()
        self.rows.append((name, now - self.last, detail))
        console.print(f"[green]✓[/green] {name} [dim]({now - self.last:.1f}s)[/dim]  {detail}")
        self.last = now


def channel(p: Platform, service: str) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{p.port(service)}", options=channel_options())


def event_chain(bootstrap: str, project: str) -> list[tuple[str, float]]:
    """Every event of this project, in time order."""
    consumer = KafkaConsumer(*BY_TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    out = []
    for rec in consumer:
        msg = BY_TOPIC[rec.topic].FromString(rec.value)
        if msg.meta.project == project:
            out.append((type(msg).__name__, msg.meta.occurred_at.ToDatetime().timestamp()))
    consumer.close()
    return sorted(out, key=lambda x: x[1])


def run(keep_running: bool = False) -> int:
    stages = Stages()
    # A fresh platform of its own each time, so an earlier run's state never leaks in.
    platform = Platform(default_state_dir() / "demo")
    platform.down()
    shutil.rmtree(platform.state, ignore_errors=True)
    with console.status("starting Kafka and the services") as st:
        platform.up(progress=lambda name, what: st.update(f"{name}: {what}"))
    stages.done("platform up", f"Kafka at {platform.bootstrap}; services: "
                + ", ".join(f"{s.name}:{s.port}" for s in platform.status()))
    try:
        return _lifecycle(platform, stages)
    finally:
        if not keep_running:
            platform.down()
            console.print("[dim]platform stopped (use --keep-running to leave it up)[/dim]")


def _lifecycle(platform: Platform, stages: Stages) -> int:
    project = f"digits-{time.strftime('%Y%m%d-%H%M%S')}"
    correlation_id = f"demo-{project}"
    doc = lifecycle.load(SPEC)
    doc["metadata"]["name"] = project
    steps = lifecycle.plan(doc)
    for section, msg in steps:
        with channel(platform, section.service) as ch:
            section.send(ch, msg)
    stages.done("lifecycle applied", f"project {project}: " + ", ".join(s.name for s, _ in steps))

    digits = load_digits()
    truth = [str(t) for t in digits.target]
    with channel(platform, "ingestion") as ch:
        stub = ing_grpc.IngestionServiceStub(ch)
        ds = stub.CreateDataset(ing.CreateDatasetRequest(project=project, name="digits")).dataset_id
        res = stub.IngestSampleSet(ing.IngestSampleSetRequest(dataset_id=ds, name="digits", drop_labels=True,
                                                               correlation_id=correlation_id))
    stages.done("ingested", f"{res.version.num_rows} unlabeled images -> {res.version.version_id} "
                            f"({res.version.data.size_bytes / 1024:.0f} KiB Parquet)")

    with channel(platform, "labeling") as ch:
        stub = lab_grpc.LabelingServiceStub(ch)
        job = wait_for(lambda: next(iter(stub.ListJobs(lab.ListJobsRequest(project=project)).jobs), None), 60,
                       "the labeling job that DatasetIngested opens")
        stages.done("labeling job opened by event", f"{job.job_id}: {job.num_items} items x overlap {job.overlap}")
        classes = list(job.schema.classes)
        stub.AddGoldItems(lab.AddGoldItemsRequest(job_id=job.job_id, gold=[
            lab.GoldItem(item_index=i, label=lab.Label(class_name=truth[i])) for i in range(GOLD_ITEMS)]))
        total = job.num_items * job.overlap
        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("annotating", total=total)
            annotate(ch, job.job_id, CROWD, truth, classes, on_answer=lambda: bar.advance(task))
        stats = stub.GetJobStats(lab.GetJobStatsRequest(job_id=job.job_id))
        job = wait_for(lambda: (j := stub.GetJob(lab.GetJobRequest(job_id=job.job_id))).labeled_version_id and j, 60,
                       "the labeled version")
    stages.done("labeled", f"{stats.annotations} annotations, coverage {stats.coverage:.2f}, "
                           f"Fleiss' kappa {stats.fleiss_kappa:.3f}, {len(stats.flagged_items)} items flagged; "
                           f"version {job.labeled_version_id}")
    t = Table("annotator", "answers", "gold answered", "gold accuracy", title="annotators")
    for a in stats.annotators:
        t.add_row(a.annotator_id, str(a.annotations), str(a.gold_answered), f"{a.gold_accuracy:.2f}")
    console.print(t)

    with channel(platform, "preprocessing") as ch:
        stub = pre_grpc.PreprocessingServiceStub(ch)
        fs = wait_for(lambda: next(iter(stub.ListFeatureSets(pre.ListFeatureSetsRequest(project=project))
                                        .feature_sets), None), 180, "the feature set that DatasetLabeled builds")
    c = fs.cleaning
    stages.done("features ready", f"{fs.feature_set_id}: splits {dict(fs.split_rows)}, "
                                  f"{fs.augmented_rows} augmented rows, input shape {list(fs.input_shape)}")
    t = Table("cleaning", "rows", title="preprocessing")
    for name in ("input_rows", "exact_duplicates", "near_duplicates", "missing_dropped", "missing_imputed",
                 "outliers_clipped", "images_dropped", "output_rows"):
        t.add_row(name, str(getattr(c, name)))
    console.print(t)

    accuracy = _label_accuracy(job, truth)
    console.print(f"consensus labels agree with the true digits on [bold]{accuracy:.1%}[/bold] of items")
    if MODEL_HALF <= {s.name for s in platform.status()}:
        from services.cli.demo_models import model_half

        model_half(SimpleNamespace(console=console, wait_for=wait_for, project=project, stages=stages,
                                   channel=lambda svc: channel(platform, svc), dataset_id=ds,
                                   correlation_id=correlation_id))
    chain = [name for name, _ in event_chain(platform.bootstrap, project)]
    runs = [(n, len(list(g))) for n, g in itertools.groupby(chain)]
    console.print("events: " + " -> ".join(n if k == 1 else f"{n} x{k}" for n, k in runs))
    console.print("\n[bold]artifacts[/bold]")
    for name, ref in (("dataset version", res.version.data), ("labeled version", job.labeled_data),
                      ("train split", fs.train), ("validation split", fs.validation), ("test split", fs.test),
                      ("fitted transform", fs.transform)):
        console.print(f"  {name:17s} {ref.uri}")
    console.print(f"\nlogs: {platform.logs}   total {time.monotonic() - stages.t0:.1f}s")
    return 0


def _label_accuracy(job, truth: list[str]) -> float:
    import pyarrow.parquet as pq

    table = pq.read_table(job.labeled_data.uri.removeprefix("file://"), columns=["label"])
    labels = table.column("label").to_pylist()
    return sum(a == b for a, b in zip(labels, truth, strict=True)) / len(truth)


if __name__ == "__main__":
    raise SystemExit(run())
