"""Schema migrations on SQLite and a real PostgreSQL: upgrade of an older database, fresh databases
created and stamped, a failing revision that changes nothing, and the services' own stores."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, text

from services.common.migrations import current_revision, migrate
from services.common.store import make_engine

V1 = MetaData()
Table("things", V1, Column("id", String(20), primary_key=True), Column("name", String(50)))
V2 = MetaData()
Table("things", V2, Column("id", String(20), primary_key=True), Column("name", String(50)),
      Column("color", String(20), nullable=True))
Table("extras", V2, Column("id", Integer, primary_key=True))

ADD_COLOR = '''
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.add_column("things", sa.Column("color", sa.String(20), nullable=True))
    op.execute("UPDATE things SET color = 'red'")
{extra}

def downgrade():
    op.drop_column("things", "color")
'''


def revisions(tmp_path: Path, extra: str = "") -> Path:
    location = tmp_path / f"migrations-{uuid.uuid4().hex[:6]}"
    (location / "versions").mkdir(parents=True)
    (location / "versions" / "0001_add_color.py").write_text(ADD_COLOR.format(extra=extra))
    return location


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        yield eng
        eng.dispose()
        return
    server = request.getfixturevalue("postgres_url")
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    eng = make_engine(server.rsplit("/", 1)[0] + f"/{name}")
    yield eng
    eng.dispose()
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_an_older_database_is_upgraded_in_place(engine, tmp_path):
    migrate(engine, V1, tmp_path / "none-yet")               # created before any revision existed
    with engine.begin() as c:
        c.execute(text("INSERT INTO things (id, name) VALUES ('t1', 'old row')"))
    location = revisions(tmp_path)
    migrate(engine, V2, location)
    assert "color" in columns(engine, "things") and "extras" in inspect(engine).get_table_names()
    with engine.begin() as c:
        assert c.execute(text("SELECT name, color FROM things")).all() == [("old row", "red")]
        assert current_revision(c) == "0001"
    migrate(engine, V2, location)                            # at head: nothing runs twice
    with engine.begin() as c:
        assert c.execute(text("SELECT count(*) FROM things")).scalar() == 1 and current_revision(c) == "0001"


def test_a_new_database_is_created_from_the_models_and_stamped(engine, tmp_path):
    migrate(engine, V2, revisions(tmp_path))                 # running 0001 here would fail: color exists
    assert "color" in columns(engine, "things")
    with engine.begin() as c:
        assert current_revision(c) == "0001"


def test_a_failing_revision_changes_nothing(engine, tmp_path):
    migrate(engine, V1, tmp_path / "none-yet")
    with engine.begin() as c:
        c.execute(text("INSERT INTO things (id, name) VALUES ('t1', 'kept')"))
    broken = revisions(tmp_path, extra="    raise RuntimeError('revision 0001 is broken')\n")
    with pytest.raises(RuntimeError, match="broken"):
        migrate(engine, V2, broken)
    assert columns(engine, "things") == {"id", "name"} and "extras" not in inspect(engine).get_table_names()
    with engine.begin() as c:
        assert c.execute(text("SELECT name FROM things")).all() == [("kept",)]
        assert current_revision(c) is None


def test_every_service_store_opens_twice_on_the_same_database(tmp_path):
    import importlib

    from scripts.schema import BASES
    from services.common.store import Store

    for name, module in BASES.items():
        url = f"sqlite:///{tmp_path / name}.sqlite"
        base = importlib.import_module(module).Base
        for _ in range(2):   # a restart finds its tables and leaves them as they are
            store = Store(url, base)
            assert set(base.metadata.tables) <= set(inspect(store.engine).get_table_names())
            store.engine.dispose()
