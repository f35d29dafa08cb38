"""LabelingService over a real gRPC server on port 0, with a real SQLite store and ArtifactStore in tmp.

RPCs that never emit an event run without a broker (the outbox stays empty, so nothing connects);
the ones that finalize a job use the real broker from `kafka_bootstrap`, as the outbox relay sends there.
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from sqlalchemy import select

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from gristmill.labeling.v1 import labeling_pb2 as pb
from gristmill.labeling.v1 import labeling_pb2_grpc as pb_grpc
from services.common.artifacts import ArtifactStore
from services.common.convert import artifact_ref
from services.common.store import OutboxRecord, Store
from services.labeling.config import LabelingSettings
from services.labeling.domain import labeled_version_id
from services.labeling.server import build

SERVICE = "gristmill.labeling.v1.LabelingService"
SENTIMENT = pb.LabelSchema(kind=pb.LABEL_KIND_CLASS, classes=["positive", "negative", "neutral"])
DIGITS = pb.LabelSchema(kind=pb.LABEL_KIND_CLASS, classes=[str(d) for d in range(10)])
C = grpc.StatusCode


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def start(make_settings):
    started = []

    def start(clock=None, **overrides):
        settings = make_settings("labeling", LabelingSettings, consume_events=False, lease_seconds=30, **overrides)
        running = build(settings, clock=clock)
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        started.append((running, channel))
        return SimpleNamespace(stub=pb_grpc.LabelingServiceStub(channel), channel=channel, settings=settings,
                               artifacts=ArtifactStore(settings.artifact_uri))

    yield start
    for running, channel in started:
        channel.close()
        running.stop()


@pytest.fixture
def svc(start):
    return start()


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), value).save(out, format="PNG")
    return out.getvalue()


def parquet(svc, table: pa.Table):
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return artifact_ref(svc.artifacts.put_bytes(sink.getvalue(), "application/vnd.apache.parquet"))


def images(svc, n: int = 3):
    return parquet(svc, pa.table({"image": pa.array([png(40 * i) for i in range(n)], pa.binary()),
                                  "id": list(range(n))}))


def texts(svc, n: int = 3):
    return parquet(svc, pa.table({"text": [f"t{i}" for i in range(n)]}))


def create(svc, data, schema=DIGITS, **kw) -> pb.Job:
    return svc.stub.CreateJob(pb.CreateJobRequest(project="proj", dataset_id="ds-1", version_id="v-1", schema=schema,
                                                  data=data, **kw))


def code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def cls(name: str) -> pb.Label:
    return pb.Label(class_name=name)


def test_health_and_policy_round_trip(svc):
    health = health_pb2_grpc.HealthStub(svc.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status == health_pb2.HealthCheckResponse.SERVING
    stored = svc.stub.PutPolicy(pb.PutPolicyRequest(policy=pb.LabelingPolicy(
        project="proj", schema=SENTIMENT, overlap=3, skip_if_labeled=True)))
    # defaults are filled in and returned
    assert (stored.overlap, stored.min_coverage, stored.lease_seconds, stored.label_column) == (3, 1.0, 30, "label")
    assert stored.consensus == pb.CONSENSUS_METHOD_MAJORITY
    assert svc.stub.GetPolicy(pb.GetPolicyRequest(project="proj")) == stored
    for request, code in [
        (pb.PutPolicyRequest(), C.INVALID_ARGUMENT),
        (pb.PutPolicyRequest(policy=pb.LabelingPolicy(project="proj")), C.INVALID_ARGUMENT),
        (pb.PutPolicyRequest(policy=pb.LabelingPolicy(project="proj", schema=pb.LabelSchema(
            kind=pb.LABEL_KIND_CLASS))), C.INVALID_ARGUMENT),
        (pb.PutPolicyRequest(policy=pb.LabelingPolicy(schema=SENTIMENT)), C.INVALID_ARGUMENT),
        (pb.PutPolicyRequest(policy=pb.LabelingPolicy(project="proj", schema=SENTIMENT, overlap=-1)),
         C.INVALID_ARGUMENT),
    ]:
        assert code_of(lambda r=request: svc.stub.PutPolicy(r))[0] == code
    assert svc.stub.GetPolicy(pb.GetPolicyRequest(project="proj")) == stored     # unchanged by the bad puts
    assert code_of(lambda: svc.stub.GetPolicy(pb.GetPolicyRequest(project="other")))[0] == C.NOT_FOUND
    assert code_of(lambda: svc.stub.GetPolicy(pb.GetPolicyRequest()))[0] == C.INVALID_ARGUMENT


def test_create_job_validation_and_lookup(svc):
    data = images(svc)
    numeric = pb.LabelSchema(kind=pb.LABEL_KIND_NUMERIC, min=5, max=1)
    wrong_sum = common_pb2.ArtifactRef(uri=data.uri, sha256="0" * 64, size_bytes=data.size_bytes)
    missing = common_pb2.ArtifactRef(uri=data.uri.replace(data.sha256, "e" * 64), sha256="e" * 64)
    cases = [
        ({"schema": pb.LabelSchema(kind=pb.LABEL_KIND_CLASS)}, C.INVALID_ARGUMENT, "at least one class"),
        ({"schema": pb.LabelSchema()}, C.INVALID_ARGUMENT, "kind is required"),
        ({"schema": numeric}, C.INVALID_ARGUMENT, "below"),
        ({"overlap": -1}, C.INVALID_ARGUMENT, "overlap"),
        ({"min_agreement": 0.4}, C.INVALID_ARGUMENT, "overlap >= 2"),
        ({"lease_seconds": -5}, C.INVALID_ARGUMENT, "lease_seconds"),
        ({"consensus": 9}, C.INVALID_ARGUMENT, "consensus"),
        ({"gold": [pb.GoldItem(item_index=0, label=cls("cat"))]}, C.INVALID_ARGUMENT, "not one of the classes"),
        ({"gold": [pb.GoldItem(item_index=5, label=cls("1"))]}, C.INVALID_ARGUMENT, "outside"),
        ({"gold": [pb.GoldItem(item_index=0)]}, C.INVALID_ARGUMENT, "required"),
        ({"data": wrong_sum}, C.FAILED_PRECONDITION, "checksum"),
        ({"data": missing}, C.NOT_FOUND, "does not exist"),
        ({"data": None}, C.NOT_FOUND, "unknown to labeling"),
    ]
    for overrides, code, text in cases:
        kw = {"data": data, "schema": DIGITS, **overrides}
        got, details = code_of(lambda kw=kw: svc.stub.CreateJob(pb.CreateJobRequest(
            project="proj", dataset_id="ds-1", version_id="v-1", **kw)))
        assert got == code and text in details, (overrides, got, details)
    assert code_of(lambda: svc.stub.CreateJob(pb.CreateJobRequest(project="p", version_id="v")))[0] == \
        C.INVALID_ARGUMENT
    assert list(svc.stub.ListJobs(pb.ListJobsRequest()).jobs) == []              # nothing was created
    job = create(svc, data, gold=[pb.GoldItem(item_index=1, label=cls("3"))], overlap=2)
    assert (job.state, job.num_items, job.overlap, job.lease_seconds) == (pb.JOB_STATE_OPEN, 3, 2, 30)
    assert job.data.sha256 == data.sha256 and job.correlation_id
    assert svc.stub.GetJob(pb.GetJobRequest(job_id=job.job_id)) == job
    assert code_of(lambda: svc.stub.GetJob(pb.GetJobRequest(job_id="lj-nope")))[0] == C.NOT_FOUND
    assert code_of(lambda: svc.stub.GetJob(pb.GetJobRequest()))[0] == C.INVALID_ARGUMENT


def test_list_jobs_pages(svc):
    data = texts(svc)
    made = [create(svc, data, schema=SENTIMENT).job_id for _ in range(5)]
    page = svc.stub.ListJobs(pb.ListJobsRequest(project="proj", page_size=2))
    seen = [j.job_id for j in page.jobs]
    while page.next_page_token:
        page = svc.stub.ListJobs(pb.ListJobsRequest(project="proj", page_size=2, page_token=page.next_page_token))
        seen += [j.job_id for j in page.jobs]
    assert seen == made
    assert list(svc.stub.ListJobs(pb.ListJobsRequest(project="other")).jobs) == []
    assert code_of(lambda: svc.stub.ListJobs(pb.ListJobsRequest(page_token="%%")))[0] == C.INVALID_ARGUMENT
    assert code_of(lambda: svc.stub.ListJobs(pb.ListJobsRequest(page_size=-1)))[0] == C.INVALID_ARGUMENT


def test_lease_and_submit_error_paths(start):
    clock = Clock()
    svc = start(clock=clock)
    job = create(svc, images(svc, 2))
    lease = svc.stub.LeaseTasks
    assert code_of(lambda: lease(pb.LeaseTasksRequest(job_id="lj-x", annotator_id="a")))[0] == C.NOT_FOUND
    assert code_of(lambda: lease(pb.LeaseTasksRequest(job_id=job.job_id)))[0] == C.INVALID_ARGUMENT
    assert code_of(lambda: lease(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="a", max_tasks=-1)))[0] == \
        C.INVALID_ARGUMENT
    [task] = lease(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="alice")).tasks   # max_tasks 0 -> 1
    assert task.image_png == png(0) and json.loads(task.record_json) == {"id": 0}
    assert task.lease_expires_at.seconds == int(clock.now) + 30
    submit = svc.stub.SubmitAnnotation

    def answer(who, label, task_id=task.task_id):
        return submit(pb.SubmitAnnotationRequest(task_id=task_id, annotator_id=who, label=label))

    assert code_of(lambda: answer("alice", cls("1"), "lj-x-0-0"))[0] == C.NOT_FOUND
    assert code_of(lambda: answer("alice", cls("eleven")))[0] == C.INVALID_ARGUMENT
    assert code_of(lambda: answer("alice", pb.Label(number=3)))[0] == C.INVALID_ARGUMENT
    assert code_of(lambda: answer("alice", pb.Label()))[0] == C.INVALID_ARGUMENT
    assert code_of(lambda: answer("", cls("1")))[0] == C.INVALID_ARGUMENT
    assert code_of(lambda: answer("bob", cls("1")))[0] == C.FAILED_PRECONDITION           # alice's lease
    [other] = lease(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="bob", max_tasks=5)).tasks
    assert other.item_index == 1
    clock.now += 31                                                                      # both leases run out
    code, details = code_of(lambda: answer("alice", cls("1")))
    assert code == C.FAILED_PRECONDITION and "expired" in details
    [again] = lease(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="carol", max_tasks=1)).tasks
    assert again.task_id == task.task_id                                                 # back in the queue
    assert answer("carol", cls("7")) == pb.SubmitAnnotationResponse(job_completed=False)
    assert code_of(lambda: answer("carol", cls("7")))[0] == C.FAILED_PRECONDITION        # already answered
    never = f"{job.job_id}-1-0"
    assert code_of(lambda: answer("dave", cls("7"), never))[0] == C.FAILED_PRECONDITION  # not leased by dave
    stats = svc.stub.GetJobStats(pb.GetJobStatsRequest(job_id=job.job_id))
    assert (stats.annotations, stats.covered_items, stats.coverage) == (1, 1, 0.5)       # only the good answer
    assert code_of(lambda: svc.stub.GetJobStats(pb.GetJobStatsRequest(job_id="lj-x")))[0] == C.NOT_FOUND


def test_numeric_range_is_enforced(svc):
    job = create(svc, texts(svc, 1), schema=pb.LabelSchema(kind=pb.LABEL_KIND_NUMERIC, min=0, max=5))
    [task] = svc.stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="a")).tasks
    req = pb.SubmitAnnotationRequest(task_id=task.task_id, annotator_id="a", label=pb.Label(number=7.5))
    code, details = code_of(lambda: svc.stub.SubmitAnnotation(req))
    assert code == C.INVALID_ARGUMENT and "outside the range [0.0, 5.0]" in details
    req.label.number = 4.5
    svc.stub.SubmitAnnotation(req)


def test_prelabels_drive_uncertainty_first_order(svc):
    job = create(svc, images(svc, 4))
    set_ = svc.stub.SetPrelabels
    for bad, code in [(pb.SetPrelabelsRequest(job_id="lj-x"), C.NOT_FOUND),
                      (pb.SetPrelabelsRequest(job_id=job.job_id, prelabels=[
                          pb.Prelabel(item_index=4, label=cls("1"), confidence=0.5)]), C.INVALID_ARGUMENT),
                      (pb.SetPrelabelsRequest(job_id=job.job_id, prelabels=[
                          pb.Prelabel(item_index=0, label=cls("1"), confidence=1.5)]), C.INVALID_ARGUMENT),
                      (pb.SetPrelabelsRequest(job_id=job.job_id, prelabels=[
                          pb.Prelabel(item_index=0, label=cls("x"), confidence=0.5)]), C.INVALID_ARGUMENT)]:
        assert code_of(lambda b=bad: set_(b))[0] == code
    response = set_(pb.SetPrelabelsRequest(job_id=job.job_id, prelabels=[
        pb.Prelabel(item_index=0, label=cls("8"), confidence=0.95),
        pb.Prelabel(item_index=2, label=cls("3"), confidence=0.15),
        pb.Prelabel(item_index=3, label=cls("5"), confidence=0.55)]))
    assert response.count == 3
    tasks = svc.stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="a", max_tasks=10)).tasks
    assert [t.item_index for t in tasks] == [2, 3, 0, 1]
    assert tasks[0].suggestion == cls("3") and tasks[0].suggestion_confidence == pytest.approx(0.15)
    assert not tasks[3].HasField("suggestion")


def outbox_events(svc) -> list[ev.DatasetLabeled]:
    store = Store(svc.settings.database_url)
    try:
        with store.session() as s:
            return [ev.DatasetLabeled.FromString(r.payload) for r in s.scalars(select(OutboxRecord))]
    finally:
        store.engine.dispose()


@pytest.mark.kafka
def test_finalize_paths_and_completed_job_is_read_only(start, kafka_bootstrap):
    svc = start(kafka_bootstrap=kafka_bootstrap)
    data = images(svc, 3)
    job = create(svc, data, overlap=2, min_agreement=0.5, label_column="digit", correlation_id="corr-1")
    finalize = svc.stub.FinalizeJob
    assert code_of(lambda: finalize(pb.FinalizeJobRequest(job_id="lj-x")))[0] == C.NOT_FOUND
    code, details = code_of(lambda: finalize(pb.FinalizeJobRequest(job_id=job.job_id)))
    assert code == C.FAILED_PRECONDITION and "coverage 0.000 < min_coverage 1.000 (0/3 items have 2" in details
    code, details = code_of(lambda: finalize(pb.FinalizeJobRequest(job_id=job.job_id, force=True)))
    assert code == C.FAILED_PRECONDITION and "no labeled item" in details
    for who, answers in {"a": "123", "b": "134"}.items():
        for t in svc.stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id=who, max_tasks=9)).tasks:
            svc.stub.SubmitAnnotation(pb.SubmitAnnotationRequest(task_id=t.task_id, annotator_id=who,
                                                                 label=cls(answers[t.item_index])))
    stats = svc.stub.GetJobStats(pb.GetJobStatsRequest(job_id=job.job_id))
    assert stats.coverage == 1.0 and list(stats.flagged_items) == [1, 2] and not stats.thresholds_met
    assert [(p.annotator_a, p.annotator_b, p.shared_items) for p in stats.cohen] == [("a", "b", 3)]
    code, details = code_of(lambda: finalize(pb.FinalizeJobRequest(job_id=job.job_id)))
    assert code == C.FAILED_PRECONDITION and f"fleiss_kappa {stats.fleiss_kappa:.3f} < min_agreement 0.500" in details
    done = finalize(pb.FinalizeJobRequest(job_id=job.job_id, force=True))
    assert done.state == pb.JOB_STATE_COMPLETED and done.labeled_version_id == labeled_version_id("ds-1", done.labeled_data.sha256)
    table = pq.read_table(pa.BufferReader(svc.artifacts.read_bytes(done.labeled_data.uri, done.labeled_data.sha256)))
    assert table.column("digit").to_pylist() == ["1", "2", "3"]    # ties go to the first class
    [event] = outbox_events(svc)
    assert (event.version_id, event.num_rows, event.meta.correlation_id) == (done.labeled_version_id, 3, "corr-1")
    assert event.schema.label_column == "digit" and event.fleiss_kappa == pytest.approx(stats.fleiss_kappa)
    for call in (lambda: finalize(pb.FinalizeJobRequest(job_id=job.job_id, force=True)),
                 lambda: svc.stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="c")),
                 lambda: svc.stub.SetPrelabels(pb.SetPrelabelsRequest(job_id=job.job_id)),
                 lambda: svc.stub.SubmitAnnotation(pb.SubmitAnnotationRequest(
                     task_id=f"{job.job_id}-0-0", annotator_id="a", label=cls("1")))):
        code, details = code_of(call)
        assert code == C.FAILED_PRECONDITION and "already completed" in details


def test_add_gold_items_scores_annotators(svc):
    job = create(svc, images(svc, 3), overlap=1)
    res = svc.stub.AddGoldItems(pb.AddGoldItemsRequest(job_id=job.job_id, gold=[pb.GoldItem(item_index=0,
                                                                                            label=cls("1"))]))
    assert res.gold_items == 1
    code, msg = code_of(lambda: svc.stub.AddGoldItems(pb.AddGoldItemsRequest(
        job_id=job.job_id, gold=[pb.GoldItem(item_index=0, label=cls("2"))])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "twice" in msg
    code, msg = code_of(lambda: svc.stub.AddGoldItems(pb.AddGoldItemsRequest(
        job_id=job.job_id, gold=[pb.GoldItem(item_index=7, label=cls("2"))])))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outside" in msg
    code, _ = code_of(lambda: svc.stub.AddGoldItems(pb.AddGoldItemsRequest(
        job_id="lj-missing", gold=[pb.GoldItem(item_index=0, label=cls("2"))])))
    assert code == grpc.StatusCode.NOT_FOUND
    # the gold answer now scores whoever labels item 0
    tasks = svc.stub.LeaseTasks(pb.LeaseTasksRequest(job_id=job.job_id, annotator_id="ann", max_tasks=3)).tasks
    for t in tasks:
        svc.stub.SubmitAnnotation(pb.SubmitAnnotationRequest(task_id=t.task_id, annotator_id="ann",
                                                             label=cls("1" if t.item_index == 0 else "3")))
    stats = svc.stub.GetJobStats(pb.GetJobStatsRequest(job_id=job.job_id))
    ann = {a.annotator_id: a for a in stats.annotators}["ann"]
    assert ann.gold_answered == 1 and ann.gold_accuracy == 1.0
