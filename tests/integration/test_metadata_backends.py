"""The same SQLAlchemy code on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import Publisher, new_meta
from services.common.errors import AlreadyExists, InvalidArgument
from services.common.runtime import Runtime
from services.ingestion.config import IngestionSettings
from services.ingestion.domain import Ingestion
from services.ingestion.models import Base

CSV = b"x,y,label\n1,2,a\n3,4,b\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/meta.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ingestion(database_url, make_settings):
    settings = make_settings("ingestion", IngestionSettings, database_url=database_url,
                             kafka_bootstrap="127.0.0.1:1")  # never contacted: events stay in the outbox
    rt = Runtime.create(settings, base=Base)

    class OutboxOnly(Publisher):
        def flush(self, *a, **k):  # the broker is not under test here
            return 0

    domain = Ingestion(rt.store, rt.artifacts, OutboxOnly(rt.store, "", "ingestion"), settings)
    yield domain, rt.store
    rt.store.engine.dispose()


def test_versions_dedup_and_outbox_on_both_backends(ingestion):
    domain, store = ingestion
    ds = domain.create_dataset("p", "d").dataset_id
    with pytest.raises(AlreadyExists):
        domain.create_dataset("p", "d")
    v1, dedup1 = domain.ingest_bytes(ds, CSV, "csv")
    v2, dedup2 = domain.ingest_bytes(ds, CSV, "csv")
    assert not dedup1 and dedup2 and v1.version_id == v2.version_id
    with pytest.raises(InvalidArgument):
        domain.ingest_bytes(ds, b"", "csv")
    pending = store.pending_outbox()
    assert [p.event_id for p in pending] and len(pending) == 1  # one event for one new version
    event = ev.DatasetIngested.FromString(pending[0].payload)
    assert event.version_id == v1.version_id and event.num_rows == 2
    for i in range(3):
        domain.create_dataset("paged", f"d{i}")
    page, token = domain.list_datasets("paged", 2, "")
    rest, end = domain.list_datasets("paged", 2, token)
    assert len(page) == 2 and len(rest) == 1 and not end


def test_idempotency_marks_are_unique_per_group(ingestion):
    _, store = ingestion
    event_id = new_meta("t", "p").event_id
    with store.session() as s:
        assert not store.already_processed(s, "g", event_id)
        store.mark_processed(s, "g", event_id)
    with store.session() as s:
        assert store.already_processed(s, "g", event_id)
        assert not store.already_processed(s, "other-group", event_id)
    with pytest.raises(IntegrityError), store.session() as s:
        store.mark_processed(s, "g", event_id)
