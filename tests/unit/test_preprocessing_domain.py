"""The domain against a real SQLite store and artifact store (no broker: a recording publisher)."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from sqlalchemy import func, select

from gristmill.events.v1 import events_pb2 as ev
from services.common import bus
from services.common.artifacts import ArtifactStore
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from services.common.features import FittedTransform
from services.common.store import OutboxRecord, Store
from services.preprocessing.config import PreprocessingSettings
from services.preprocessing.domain import Preprocessing
from services.preprocessing.events import DatasetLabeledHandler
from services.preprocessing.models import Base, FeatureSetRow
from services.preprocessing.spec import Cleaning, FeatureSpec, Split


class RecordingPublisher(bus.Publisher):
    """The real outbox publisher with no relay running (no broker in unit tests)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, "127.0.0.1:1", "preprocessing")

    def staged(self) -> list[ev.FeaturesReady]:
        with self.store.session() as s:
            return [ev.FeaturesReady.FromString(r.payload) for r in s.scalars(select(OutboxRecord))]


@pytest.fixture
def env(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'pre.db'}", Base)
    artifacts = ArtifactStore((tmp_path / "artifacts").as_uri())
    publisher = RecordingPublisher(store)
    domain = Preprocessing(store, artifacts, publisher, PreprocessingSettings(service="preprocessing",
                                                                               state_dir=tmp_path))
    yield domain, artifacts, publisher, tmp_path
    store.engine.dispose()


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def digits_table(n: int = 60) -> pa.Table:
    """The first n scikit-learn digits as 8x8 grayscale PNGs (read from its data file: importing
    sklearn itself takes seconds)."""
    csv = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(csv, delimiter=",", max_rows=n)
    pixels = np.round(data[:, :-1].reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    return pa.table({"image": pa.array([png(p) for p in pixels], pa.binary()),
                     "label": [str(int(v)) for v in data[:, -1]]})


def parquet(artifacts: ArtifactStore, table: pa.Table):
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return artifacts.put_bytes(buf.getvalue(), "application/vnd.apache.parquet")


def load_npz(artifacts: ArtifactStore, ref: dict) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(artifacts.read_bytes(ref["uri"], ref["sha256"])), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def count_rows(domain: Preprocessing) -> int:
    with domain.store.session() as s:
        return s.scalar(select(func.count()).select_from(FeatureSetRow))


def stored_files(root) -> set[str]:
    return {p.name for p in (root / "artifacts").rglob("*") if p.is_file()}


def test_put_spec_bumps_the_revision_and_fills_defaults(env):
    domain, *_ = env
    first = domain.put_spec(FeatureSpec(project="p"))
    second = domain.put_spec(FeatureSpec(project="p", scaling="minmax"))
    assert (first.revision, second.revision) == (1, 2)
    got = domain.get_spec("p")
    assert got.revision == 2 and got.scaling == "minmax" and got.updated_at is not None
    assert (got.split.train, got.split.validation, got.split.test) == (0.7, 0.15, 0.15)
    assert domain.put_spec(FeatureSpec(project="other")).revision == 1
    with pytest.raises(NotFound, match="no feature spec"):
        domain.get_spec("nobody")


def test_invalid_spec_is_rejected_and_not_stored(env):
    domain, *_ = env
    with pytest.raises(InvalidArgument, match="sum to 1"):
        domain.put_spec(FeatureSpec(project="p", split=Split(0.5, 0.2, 0.2)))
    with pytest.raises(NotFound):
        domain.get_spec("p")


def test_image_build_writes_npz_splits_transform_row_and_event(env):
    domain, artifacts, publisher, _ = env
    domain.put_spec(FeatureSpec(project="p", scaling="standard", split=Split(0.6, 0.2, 0.2, seed=1, stratify=True)))
    table = digits_table()
    data = parquet(artifacts, table)
    row, created = domain.build_feature_set("p", "dv-1", data, correlation_id="corr-1")
    assert created and row.feature_set_id.startswith("fs-")
    assert sum(row.split_rows.values()) == 60 and row.split_rows["train"] >= 36
    assert row.input_shape == [1, 8, 8] and row.task == "classification"
    assert row.class_names == [str(i) for i in range(10)]

    t = FittedTransform.from_json(artifacts.read_bytes(row.artifacts["transform"]["uri"],
                                                       row.artifacts["transform"]["sha256"]))
    images = table.column("image").to_pylist()
    labels = np.array(table.column("label").to_pylist())
    for name in ("train", "validation", "test"):
        z = load_npz(artifacts, row.artifacts[name])
        assert z["x"].dtype == np.float32 and z["y"].dtype == np.int64
        assert z["x"].shape == (row.split_rows[name], 1, 8, 8)
        # serving's path on the raw PNG bytes gives exactly what training will read
        np.testing.assert_array_equal(t.apply([images[i] for i in z["index"]]), z["x"])
        np.testing.assert_array_equal(np.array(t.class_names)[z["y"]], labels[z["index"]])

    [event] = publisher.staged()
    assert event.feature_set_id == row.feature_set_id and event.dataset_version_id == "dv-1"
    assert dict(event.split_rows) == row.split_rows and list(event.input_shape) == [1, 8, 8]
    assert event.num_classes == 10 and event.task == 1
    assert event.meta.correlation_id == "corr-1" and event.meta.producer == "preprocessing"
    assert event.transform.sha256 == row.artifacts["transform"]["sha256"]
    assert publisher._wake.is_set()  # the commit woke the relay that sends it


def test_tabular_build_apply_reproduces_every_split(env):
    domain, artifacts, *_ = env
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({"age": rng.integers(18, 90, n).astype(float), "income": rng.lognormal(10, 1, n),
                       "city": rng.choice(["Oslo", "Zürich", "Köln"], n),
                       "bio": rng.choice(["likes long walks", "enjoys tea and books", "caf\u00c3\u00a9 owner"], n),
                       "label": rng.choice(["churn", "stay"], n)})
    df.loc[[2, 5], "income"] = np.nan
    domain.put_spec(FeatureSpec(project="t", scaling="minmax", cleaning=Cleaning(missing="median",
                                                                                  clip_outliers_iqr=1.5)))
    row, _ = domain.build_feature_set("t", "dv-t", parquet(artifacts, pa.Table.from_pandas(df)))
    assert row.cleaning["missing_imputed"] == 2 and row.cleaning["text_repaired"] > 0
    t = FittedTransform.from_json(artifacts.read_bytes(row.artifacts["transform"]["uri"]))
    for name in ("train", "validation", "test"):
        z = load_npz(artifacts, row.artifacts[name])
        np.testing.assert_array_equal(t.apply(df.iloc[z["index"]]), z["x"])


def test_same_version_and_revision_builds_once(env):
    domain, artifacts, publisher, _ = env
    domain.put_spec(FeatureSpec(project="p"))
    data = parquet(artifacts, digits_table())
    first, created = domain.build_feature_set("p", "dv-1", data)
    again, created_again = domain.build_feature_set("p", "dv-1", data)
    assert created and not created_again and again.feature_set_id == first.feature_set_id
    assert count_rows(domain) == 1 and len(publisher.staged()) == 1
    domain.put_spec(FeatureSpec(project="p", scaling="minmax"))          # a new revision builds anew
    newer, created_newer = domain.build_feature_set("p", "dv-1", data)
    assert created_newer and newer.spec_revision == 2 and count_rows(domain) == 2


def test_failed_builds_write_nothing(env):
    domain, artifacts, publisher, root = env
    data = parquet(artifacts, digits_table())
    with pytest.raises(FailedPrecondition, match="no feature spec"):
        domain.build_feature_set("p", "dv-1", data)
    domain.put_spec(FeatureSpec(project="p", label_column="digit"))
    before = stored_files(root)
    with pytest.raises(InvalidArgument, match="label column 'digit' is not in the dataset"):
        domain.build_feature_set("p", "dv-1", data)
    domain.put_spec(FeatureSpec(project="p", numeric_columns=["width"]))
    with pytest.raises(InvalidArgument, match=r"not have: \['width'\]"):
        domain.build_feature_set("p", "dv-1", data)
    with pytest.raises(InvalidArgument, match="not a readable Parquet"):
        domain.build_feature_set("p", "dv-1", artifacts.put_bytes(b"plain text"))
    before.add(artifacts.put_bytes(b"plain text").sha256)
    assert stored_files(root) == before
    assert count_rows(domain) == 0 and publisher.staged() == []


def labeled_event(data, project: str = "p") -> ev.DatasetLabeled:
    e = ev.DatasetLabeled(meta=bus.new_meta("labeling", project, "corr-9"), version_id="dv-9", dataset_id="ds-1")
    e.data.uri, e.data.sha256, e.data.size_bytes = data.uri, data.sha256, data.size_bytes
    return e


def test_handler_skips_projects_without_a_spec_and_builds_with_causation(env):
    domain, artifacts, publisher, _ = env
    handler = DatasetLabeledHandler(domain)
    event = labeled_event(parquet(artifacts, digits_table()))
    with domain.store.session() as s:
        handler(event, s)
    assert count_rows(domain) == 0 and publisher.staged() == []
    domain.put_spec(FeatureSpec(project="p"))
    with domain.store.session() as s:
        handler(event, s)
        assert not publisher._wake.is_set()                 # the relay wakes only once the transaction commits
    assert publisher._wake.is_set()  # the commit woke the relay that sends it
    [ready] = publisher.staged()
    assert ready.meta.correlation_id == "corr-9" and ready.meta.causation_id == event.meta.event_id


def test_handler_marks_unfixable_data_permanent(env):
    domain, artifacts, *_ = env
    domain.put_spec(FeatureSpec(project="p", label_column="nope"))
    with pytest.raises(InvalidArgument) as err, domain.store.session() as s:
        DatasetLabeledHandler(domain)(labeled_event(parquet(artifacts, digits_table())), s)
    assert getattr(err.value, "permanent", False)


def test_oversized_data_is_refused_before_it_is_read(env):
    domain, artifacts, *_ = env
    domain.settings.max_input_mb = 0
    domain.put_spec(FeatureSpec(project="p"))
    with pytest.raises(ResourceExhausted, match="at most 0 MiB"):
        domain.build_feature_set("p", "dv-1", parquet(artifacts, digits_table(10)))
    assert count_rows(domain) == 0
