"""Labeling domain: agreement statistics, consensus, the leased queue with overlap, finalization, policies.

Real SQLite store and real content-addressed ArtifactStore in tmp; the publisher is real except that
no relay runs (no broker in unit tests), so the outbox holds what would be sent.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import func, select

from gristmill.common.v1 import common_pb2
from gristmill.events.v1 import events_pb2 as ev
from services.common import bus
from services.common.artifacts import ArtifactStore
from services.common.convert import artifact_ref
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.store import OutboxRecord, Store
from services.labeling import agreement as ag
from services.labeling.config import LabelingSettings
from services.labeling.domain import (
    AnnotationRow,
    Base,
    Box,
    ConsensusMethod,
    JobRequest,
    JobRow,
    JobState,
    LabelingDomain,
    LabelingParams,
    LabelKind,
    LabelSchema,
    Policy,
    Prelabel,
    TaskRow,
    labeled_version_id,
)

SENTIMENT = LabelSchema(LabelKind.CLASS, ("positive", "negative", "neutral"))

# Fleiss (1971) as tabulated on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


# --- agreement statistics ------------------------------------------------------------------------------

def test_fleiss_kappa_matches_the_published_example():
    # P-bar = 0.378, P_e = 0.2128, kappa = 0.210 in the worked example
    assert ag.fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.20993, abs=5e-5)


def test_fleiss_kappa_edge_cases():
    assert ag.fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    assert ag.fleiss_kappa([[3, 0], [3, 0]]) == 1.0            # one category only, everyone agrees
    assert math.isnan(ag.fleiss_kappa([[1, 0], [0, 1]]))       # nothing rated twice
    # items with a single rating are left out; varying n per item is allowed
    assert ag.fleiss_kappa([[2, 0], [0, 2], [1, 0]]) == pytest.approx(1.0)
    assert ag.fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0)


def test_cohen_kappa_hand_example_and_sklearn():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    a = [0] * 20 + [0] * 5 + [1] * 10 + [1] * 15
    b = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    assert ag.cohen_kappa(a, b) == pytest.approx(0.4)
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = rng.integers(0, 4, 60)
        y = np.where(rng.random(60) < 0.6, x, rng.integers(0, 4, 60))
        assert ag.cohen_kappa(x, y, 4) == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)


def test_pairwise_cohen_matches_sklearn_on_every_pair():
    rng = np.random.default_rng(3)
    items, who, cls = [], [], []
    for i in range(150):
        for a in rng.choice(6, size=rng.integers(1, 5), replace=False):
            items.append(i)
            who.append(int(a))
            cls.append(int(rng.integers(0, 3)))
    items, who, cls = np.array(items), np.array(who), np.array(cls)
    pairs = ag.pairwise_cohen(items, who, cls, 3)
    assert len(pairs) == 15
    for a, b, kappa, shared in pairs:
        la = dict(zip(items[who == a], cls[who == a], strict=True))
        lb = dict(zip(items[who == b], cls[who == b], strict=True))
        common = sorted(set(la) & set(lb))
        assert shared == len(common)
        assert kappa == pytest.approx(cohen_kappa_score([la[i] for i in common], [lb[i] for i in common]), abs=1e-12)


def test_plurality_weighted_votes_and_disagreement():
    items = np.array([0, 0, 0, 1, 1, 2])
    votes = np.array([1, 1, 0, 2, 0, 2])
    counts = ag.vote_counts(items, votes, 4, 3)
    assert ag.plurality(counts).tolist() == [1, 0, 2, -1]          # item 1 ties 0/2 -> first class; 3 unvoted
    assert ag.disagreements(counts).tolist() == [True, True, False, False]
    # one accurate annotator outweighs two poor ones
    answered, right, acc = ag.gold_accuracy([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2],
                                            [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 4)
    assert answered.tolist() == [4, 4, 4, 0] and acc[0] == 1.0 and acc[1] == 0.0 and math.isnan(acc[3])
    w = ag.accuracy_weights(answered, right)
    assert w.tolist() == pytest.approx([5 / 6, 1 / 6, 1 / 6, 0.5])
    weighted = ag.vote_counts([0, 0, 0], [2, 1, 1], 1, 3, w[[0, 1, 2]])
    assert ag.plurality(weighted).tolist() == [2]


def test_grouped_median_matches_numpy_and_weights():
    rng = np.random.default_rng(1)
    items = rng.integers(0, 30, 200)
    values = rng.normal(size=200)
    med = ag.grouped_median(items, values, 32)
    for i in range(32):
        vals = values[items == i]
        assert (math.isnan(med[i]) and vals.size == 0) or med[i] == pytest.approx(np.median(vals))
    # weighted: 1 (w 0.1), 2 (w 0.1), 10 (w 0.9) -> 10
    assert ag.grouped_median([0, 0, 0], [1.0, 2.0, 10.0], 1, [0.1, 0.1, 0.9]).tolist() == [10.0]
    assert ag.grouped_spread([0, 0, 1], [1.0, 4.0, 2.0], 3)[:2].tolist() == [3.0, 0.0]


def test_box_consensus_mean_of_matched_boxes():
    a = np.array([[0, 0, 0, 10, 10], [1, 50, 50, 60, 60]])
    b = np.array([[0, 2, 0, 12, 10]])
    c = np.array([[0, 1, 0, 11, 10], [1, 100, 100, 110, 110]])
    boxes, disagree = ag.box_consensus([a, b, c])
    # class 0 matched by all three: mean box; the two class-1 boxes do not overlap, each has 1 of 3 votes
    assert boxes.tolist() == [[0, 1, 0, 11, 10]]
    assert disagree
    same, disagree = ag.box_consensus([a, a.copy()])
    assert same.tolist() == a.tolist() and not disagree
    assert ag.boxes_match(a, a + [0, 1, 1, 1, 1]) and not ag.boxes_match(a, b)


# --- the domain ------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingPublisher(bus.Publisher):
    """The real outbox publisher with no relay running (no broker in unit tests)."""


@pytest.fixture
def env(make_settings):
    settings = make_settings("labeling", LabelingSettings, lease_seconds=60)
    store = Store(settings.database_url, Base)
    artifacts = ArtifactStore(settings.artifact_uri)
    publisher = CountingPublisher(store, "127.0.0.1:1", "labeling")
    clock = Clock()
    domain = LabelingDomain(store, artifacts, publisher, settings, clock=clock)
    yield domain
    store.engine.dispose()


def png(value: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), value).save(out, format="PNG")
    return out.getvalue()


def put_parquet(domain: LabelingDomain, table: pa.Table):
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return domain.artifacts.put_bytes(sink.getvalue(), "application/vnd.apache.parquet")


def texts(domain: LabelingDomain, n: int = 4):
    return put_parquet(domain, pa.table({"text": [f"review {i}" for i in range(n)], "stars": [float(i) for i in range(n)]}))


def job_for(domain, data, schema=SENTIMENT, gold=(), **params):
    return domain.create_job(JobRequest("proj", "ds-1", "v-1", LabelingParams(schema, **params), gold=tuple(gold),
                                        data=data))


def answer_all(domain, job_id, answers: dict[str, object]) -> None:
    """Each annotator leases everything it may and answers `answers[who]` (a label, or item -> label)."""
    for who, label in answers.items():
        for task in domain.lease_tasks(job_id, who, 100):
            domain.submit_annotation(task.task_id, who, label(task.item_index) if callable(label) else label)


def outbox(domain) -> list[ev.DatasetLabeled]:
    with domain.store.session() as s:
        return [ev.DatasetLabeled.FromString(r.payload) for r in s.scalars(select(OutboxRecord))]


def count(domain, model) -> int:
    with domain.store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def read_labeled(domain, job) -> pa.Table:
    return pq.read_table(pa.BufferReader(domain.artifacts.read_bytes(job.labeled_data.uri, job.labeled_data.sha256)))


def test_overlap_gives_each_item_k_distinct_annotators(env):
    job = job_for(env, texts(env, 4), overlap=3)
    leased = {who: env.lease_tasks(job.job_id, who, 10) for who in "abcd"}
    assert [len(leased[w]) for w in "abcd"] == [4, 4, 4, 0]      # 4 items x 3 slots, one slot per item each
    assert env.lease_tasks(job.job_id, "a", 10) == []             # holds all items already
    for who in "abc":
        assert sorted(t.item_index for t in leased[who]) == [0, 1, 2, 3]
        for t in leased[who]:
            env.submit_annotation(t.task_id, who, "positive")
    assert env.lease_tasks(job.job_id, "a", 10) == []             # answered everything: never the same item twice
    stats = env.job_stats(job.job_id)
    assert (stats.coverage, stats.covered_items, stats.annotations) == (1.0, 4, 12)
    assert stats.fleiss_kappa == 1.0 and stats.flagged_items == []


def test_lease_expiry_returns_the_task_and_voids_the_old_lease(env):
    job = job_for(env, texts(env, 1))
    [task] = env.lease_tasks(job.job_id, "alice", 5)
    assert task.lease_expires_at.timestamp() == pytest.approx(env.clock.now + 60)
    assert env.lease_tasks(job.job_id, "bob", 5) == []            # held by alice
    env.clock.now += 61
    with pytest.raises(FailedPrecondition, match="expired"):
        env.submit_annotation(task.task_id, "alice", "positive")
    [again] = env.lease_tasks(job.job_id, "bob", 5)
    assert again.task_id == task.task_id
    with pytest.raises(FailedPrecondition, match="another annotator"):
        env.submit_annotation(task.task_id, "alice", "positive")
    env.submit_annotation(task.task_id, "bob", "negative")
    with pytest.raises(FailedPrecondition, match="already answered"):
        env.submit_annotation(task.task_id, "bob", "negative")
    assert count(env, AnnotationRow) == 1


def test_bad_requests_change_nothing(env):
    data = texts(env, 3)
    for schema, params, gold, match in [
        (LabelSchema(LabelKind.CLASS, ()), {}, (), "at least one class"),
        (LabelSchema(None), {}, (), "kind is required"),
        (SENTIMENT, {"overlap": -1}, (), "overlap"),
        (SENTIMENT, {"min_agreement": 0.5}, (), "overlap >= 2"),
        (SENTIMENT, {"min_coverage": 1.5}, (), "min_coverage"),
        (SENTIMENT, {}, ((0, "great"),), "not one of the classes"),
        (SENTIMENT, {}, ((7, "positive"),), "outside"),
        (LabelSchema(LabelKind.NUMERIC, (), 5.0, 1.0), {}, (), "below"),
    ]:
        with pytest.raises(InvalidArgument, match=match):
            job_for(env, data, schema, gold, **params)
    assert count(env, JobRow) == 0 and count(env, TaskRow) == 0
    job = job_for(env, data)
    [task] = env.lease_tasks(job.job_id, "a", 1)
    for label in ("great", 3.0, None):
        with pytest.raises(InvalidArgument):
            env.submit_annotation(task.task_id, "a", label)
    with pytest.raises(NotFound):
        env.submit_annotation("nope", "a", "positive")
    assert count(env, AnnotationRow) == 0
    env.submit_annotation(task.task_id, "a", "neutral")            # the lease survived the bad attempts


def test_artifacts_are_read_with_checksum_verification(env):
    good = texts(env, 2)
    from services.common.artifacts import Artifact

    with pytest.raises(FailedPrecondition, match="checksum"):
        job_for(env, Artifact(good.uri, "0" * 64, good.size_bytes))
    with pytest.raises(NotFound):
        job_for(env, Artifact(good.uri.replace(good.sha256, "f" * 64), "f" * 64, 1))
    with pytest.raises(NotFound, match="unknown to labeling"):
        env.create_job(JobRequest("proj", "ds", "v-unseen", LabelingParams(SENTIMENT)))
    assert count(env, JobRow) == 0


def test_majority_consensus_finalize_writes_a_labeled_version(env):
    data = texts(env, 4)
    job = job_for(env, data, overlap=3, min_agreement=0.1)
    votes = {"a": ["positive", "negative", "neutral", "positive"],
             "b": ["positive", "negative", "neutral", "negative"],
             "c": ["positive", "negative", "positive", "negative"]}
    answer_all(env, job.job_id, {w: (lambda i, v=v: v[i]) for w, v in votes.items()})
    stats = env.job_stats(job.job_id)
    assert stats.flagged_items == [2, 3]
    # items x classes counts: [3,0,0], [0,3,0], [1,0,2], [1,2,0]
    assert stats.fleiss_kappa == pytest.approx(ag.fleiss_kappa([[3, 0, 0], [0, 3, 0], [1, 0, 2], [1, 2, 0]]))
    assert {(c.annotator_a, c.annotator_b): c.shared_items for c in stats.cohen} == {
        ("a", "b"): 4, ("a", "c"): 4, ("b", "c"): 4}
    assert stats.thresholds_met
    done = env.finalize_job(job.job_id)
    assert done.state is JobState.COMPLETED
    assert done.labeled_version_id == labeled_version_id("ds-1", done.labeled_data.sha256)
    table = read_labeled(env, done)
    assert table.column_names == ["text", "stars", "label"]
    assert table.column("label").to_pylist() == ["positive", "negative", "neutral", "negative"]
    [event] = outbox(env)
    assert (event.job_id, event.version_id, event.source_version_id) == (job.job_id, done.labeled_version_id, "v-1")
    assert event.num_rows == 4 and event.coverage == 1.0 and event.fleiss_kappa == pytest.approx(stats.fleiss_kappa)
    assert event.schema.label_column == "label" and event.data.sha256 == done.labeled_data.sha256
    assert [c.name for c in event.schema.columns] == ["text", "stars", "label"]
    assert event.meta.correlation_id == job.correlation_id and event.meta.producer == "labeling"
    assert env.publisher._wake.is_set()                             # the commit woke the relay
    for call in (lambda: env.finalize_job(job.job_id, force=True), lambda: env.lease_tasks(job.job_id, "d"),
                 lambda: env.set_prelabels(job.job_id, [])):
        with pytest.raises(FailedPrecondition, match="already completed"):
            call()


def test_weighted_consensus_follows_gold_accuracy(env):
    data = texts(env, 5)          # items 0-3 are gold, item 4 is the question
    gold = [(i, "positive") for i in range(4)]
    answers = {"expert": lambda i: "negative" if i == 4 else "positive",
               "noisy1": lambda i: "neutral", "noisy2": lambda i: "neutral"}
    results = {}
    for method in (ConsensusMethod.MAJORITY, ConsensusMethod.WEIGHTED):
        job = job_for(env, data, gold=gold, overlap=3, consensus=method)
        answer_all(env, job.job_id, answers)
        stats = env.job_stats(job.job_id)
        acc = {a.annotator_id: (a.gold_answered, a.gold_accuracy) for a in stats.annotators}
        assert acc == {"expert": (4, 1.0), "noisy1": (4, 0.0), "noisy2": (4, 0.0)}
        results[method] = read_labeled(env, env.finalize_job(job.job_id)).column("label").to_pylist()
    # gold items keep their gold label either way; item 4: 2 noisy votes beat the expert only unweighted
    assert results[ConsensusMethod.MAJORITY] == ["positive"] * 4 + ["neutral"]
    assert results[ConsensusMethod.WEIGHTED] == ["positive"] * 4 + ["negative"]


def test_finalize_thresholds_force_and_auto_finalize(env):
    data = texts(env, 4)
    job = job_for(env, data, overlap=2)
    answer_all(env, job.job_id, {"a": "positive"})
    with pytest.raises(FailedPrecondition, match=r"coverage 0\.000 < min_coverage 1\.000 \(0/4 items have 2"):
        env.finalize_job(job.job_id)
    assert env.get_job(job.job_id).state is JobState.OPEN and outbox(env) == []
    forced = env.finalize_job(job.job_id, force=True)
    assert read_labeled(env, forced).column("label").to_pylist() == ["positive"] * 4
    auto = job_for(env, data, overlap=2, auto_finalize=True, min_coverage=0.5)
    tasks = env.lease_tasks(auto.job_id, "a", 2) + env.lease_tasks(auto.job_id, "b", 2)
    results = [env.submit_annotation(t.task_id, w, "neutral") for t, w in zip(tasks, "aabb", strict=True)]
    assert [r.job_completed for r in results] == [False, False, False, True]
    finished = env.get_job(auto.job_id)
    assert results[-1].labeled_version_id == finished.labeled_version_id != ""
    # half the items covered: the others stay null in the labeled column
    assert read_labeled(env, finished).column("label").to_pylist() == ["neutral", "neutral", None, None]
    assert len(outbox(env)) == 2


def test_numeric_median_range_and_spread_flags(env):
    schema = LabelSchema(LabelKind.NUMERIC, (), 0.0, 10.0)
    job = job_for(env, texts(env, 2), schema, overlap=3)
    [task] = env.lease_tasks(job.job_id, "a", 1)
    with pytest.raises(InvalidArgument, match="outside the range"):
        env.submit_annotation(task.task_id, "a", 11.0)
    env.submit_annotation(task.task_id, "a", 1.0)
    answer_all(env, job.job_id, {"a": lambda i: 1.0, "b": lambda i: 2.0 if i == 0 else 1.1,
                                 "c": lambda i: 9.0 if i == 0 else 1.2})
    stats = env.job_stats(job.job_id)
    assert stats.flagged_items == [0] and math.isnan(stats.fleiss_kappa)
    done = env.finalize_job(job.job_id)
    assert read_labeled(env, done).column("label").to_pylist() == pytest.approx([2.0, 1.1])
    [event] = outbox(env)
    label_col = [c for c in event.schema.columns if c.name == "label"][0]
    assert label_col.type == common_pb2.COLUMN_TYPE_FLOAT and label_col.required


def test_bounding_box_consensus_is_written_as_json(env):
    schema = LabelSchema(LabelKind.BOUNDING_BOX, ("cat", "dog"))
    data = put_parquet(env, pa.table({"image": pa.array([png(0), png(255)], pa.binary())}))
    job = job_for(env, data, schema, overlap=2)
    [t] = env.lease_tasks(job.job_id, "a", 1)
    with pytest.raises(InvalidArgument, match="x_min < x_max"):
        env.submit_annotation(t.task_id, "a", (Box("cat", 5, 0, 1, 4),))
    with pytest.raises(InvalidArgument, match="not one of the classes"):
        env.submit_annotation(t.task_id, "a", (Box("cow", 0, 0, 1, 1),))
    env.submit_annotation(t.task_id, "a", (Box("cat", 0, 0, 4, 4),))
    answer_all(env, job.job_id, {"a": (), "b": lambda i: (Box("cat", 0, 0, 4, 6),) if i == 0 else ()})
    stats = env.job_stats(job.job_id)
    assert stats.flagged_items == [] and stats.coverage == 1.0
    labels = read_labeled(env, env.finalize_job(job.job_id)).column("label").to_pylist()
    assert [json.loads(x) for x in labels] == [
        [{"label": "cat", "x_min": 0.0, "y_min": 0.0, "x_max": 4.0, "y_max": 5.0}], []]


def test_prelabels_order_the_queue_uncertainty_first(env):
    job = job_for(env, texts(env, 5))
    with pytest.raises(InvalidArgument, match="confidence"):
        env.set_prelabels(job.job_id, [Prelabel(0, "positive", 1.5)])
    with pytest.raises(InvalidArgument, match="outside"):
        env.set_prelabels(job.job_id, [Prelabel(9, "positive", 0.5)])
    assert env.set_prelabels(job.job_id, [Prelabel(0, "positive", 0.9), Prelabel(3, "negative", 0.2),
                                          Prelabel(4, "neutral", 0.6)]) == 3
    tasks = env.lease_tasks(job.job_id, "a", 5)
    assert [t.item_index for t in tasks] == [3, 4, 0, 1, 2]       # lowest confidence first, then the rest
    assert (tasks[0].suggestion, tasks[0].suggestion_confidence) == ("negative", 0.2)
    assert tasks[3].suggestion is None
    assert json.loads(tasks[0].record_json) == {"text": "review 3", "stars": 3.0}


def test_image_payloads_are_png(env):
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(jpeg, format="JPEG")
    data = put_parquet(env, pa.table({"image": pa.array([png(7), jpeg.getvalue()], pa.binary()), "id": [10, 11]}))
    job = job_for(env, data, LabelSchema(LabelKind.CLASS, tuple("0123456789")))
    first, second = env.lease_tasks(job.job_id, "a", 2)
    assert first.image_png == png(7) and json.loads(first.record_json) == {"id": 10}
    assert second.image_png.startswith(b"\x89PNG") and Image.open(io.BytesIO(second.image_png)).size == (4, 4)


def ingested(domain, project: str, data, labeled: bool = False, version: str = "v-9") -> ev.DatasetIngested:
    schema = common_pb2.Schema(columns=[common_pb2.ColumnSchema(name="text", type=common_pb2.COLUMN_TYPE_STRING),
                                        common_pb2.ColumnSchema(name="stars", type=common_pb2.COLUMN_TYPE_FLOAT)],
                               label_column="stars" if labeled else "")
    return ev.DatasetIngested(meta=bus.new_meta("ingestion", project), dataset_id="ds-9", version_id=version,
                              num_rows=3, schema=schema, data=artifact_ref(data), labeled=labeled, source="upload")


def handle(domain, event) -> None:
    with domain.store.session() as s:
        domain.on_dataset_ingested(event, s)


def test_policy_turns_dataset_ingested_into_one_job(env):
    data = texts(env, 3)
    handle(env, ingested(env, "nopolicy", data, version="v-0"))
    assert count(env, JobRow) == 0
    # the version is remembered: CreateJob can name it without passing the artifact
    assert env.create_job(JobRequest("nopolicy", "ds-9", "v-0", LabelingParams(SENTIMENT))).num_items == 3
    with pytest.raises(InvalidArgument, match="overlap"):
        env.put_policy(Policy("proj", LabelingParams(SENTIMENT, overlap=-2)))
    stored = env.put_policy(Policy("proj", LabelingParams(SENTIMENT, overlap=2, auto_finalize=True)))
    assert stored.params.lease_seconds == 60 and env.get_policy("proj") == stored
    with pytest.raises(NotFound):
        env.get_policy("other")
    event = ingested(env, "proj", data)
    handle(env, event)
    handle(env, ingested(env, "proj", data))                       # same version again, new event id
    [job] = env.list_jobs("proj")[0]
    assert (job.version_id, job.num_items, job.params.overlap) == ("v-9", 3, 2)
    assert job.correlation_id == event.meta.correlation_id
    answer_all(env, job.job_id, {"a": "neutral", "b": "neutral"})
    [labeled] = outbox(env)
    assert labeled.meta.correlation_id == event.meta.correlation_id
    assert labeled.meta.causation_id == event.meta.event_id and not labeled.skipped_labeling


def test_labeled_dataset_skips_labeling_when_the_policy_says_so(env):
    data = texts(env, 3)
    env.put_policy(Policy("proj", LabelingParams(SENTIMENT), skip_if_labeled=True))
    event = ingested(env, "proj", data, labeled=True)
    handle(env, event)
    assert count(env, JobRow) == 0
    [labeled] = outbox(env)
    assert labeled.skipped_labeling and labeled.version_id == labeled.source_version_id == "v-9"
    assert labeled.data.sha256 == data.sha256 and labeled.schema.label_column == "stars" and labeled.num_rows == 3
    assert labeled.meta.correlation_id == event.meta.correlation_id
    assert labeled.meta.causation_id == event.meta.event_id
    bad = ingested(env, "proj", data)
    bad.ClearField("data")
    with pytest.raises(InvalidArgument) as err:
        handle(env, bad)
    assert err.value.permanent                                     # dead-lettered at once, not retried


def test_list_jobs_pages(env):
    data = texts(env, 1)
    made = [job_for(env, data).job_id for _ in range(5)]
    seen, token = [], ""
    while True:
        jobs, token = env.list_jobs("proj", 2, token)
        seen += [j.job_id for j in jobs]
        if not token:
            break
    assert seen == made
    assert env.list_jobs("elsewhere")[0] == []
    with pytest.raises(InvalidArgument):
        env.list_jobs("proj", 2, "garbage!")
