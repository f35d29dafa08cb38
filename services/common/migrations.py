"""Schema migrations with Alembic, run by every service as it opens its store.

A service's revisions live in `services/<name>/migrations/versions/` (plain Alembic revision files;
no env.py, this module is the environment). On start:

* a database without any of the service's tables is new: the tables are created from the models
  and stamped with the newest revision, so no revision ever runs on a fresh database;
* a database with tables is upgraded from its stamped revision (none: from before the first
  revision) to the newest, in one transaction (a failed revision changes nothing), holding an
  advisory lock on PostgreSQL or the write lock on SQLite so processes starting together migrate once.

`scripts/schema.py --check` (part of `make lint`) fails when the models no longer match the committed
snapshot in `schema/`, which is the reminder to add a revision with the change.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6772_6973  # "gris": one advisory lock id for every service's migrations


def script_directory(location: Path) -> ScriptDirectory | None:
    """The service's revisions, or None while it has none."""
    versions = location / "versions"
    if not any(versions.glob("*.py")):
        return None
    return ScriptDirectory(str(location))


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, metadata: MetaData, location: Path) -> None:
    """Bring the database to the models' schema: create when new, upgrade when older."""
    script = script_directory(location)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        elif conn.dialect.name == "sqlite":  # pysqlite opens no transaction before DDL: open one, with the write lock
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        fresh = not set(metadata.tables) & set(inspect(conn).get_table_names())
        if script is not None and not fresh:
            _upgrade(conn, script, location)
        metadata.create_all(conn)  # a new database, or tables added since (a revision may create them first)
        if script is not None and fresh:
            MigrationContext.configure(conn).stamp(script, "head")


def _upgrade(conn: Connection, script: ScriptDirectory, location: Path) -> None:
    # the same step function `alembic upgrade head` builds
    ctx = MigrationContext.configure(conn, opts={"script": script,
                                                 "fn": lambda rev, _ctx: script._upgrade_revs("head", rev)})
    before = ctx.get_current_revision()
    with Operations.context(ctx):
        ctx.run_migrations()
    after = ctx.get_current_revision()
    if after != before:
        log.info("database migrated", extra={"from": before or "base", "to": after, "location": str(location)})
