"""Shared fixtures: a real Kafka broker, real PostgreSQL, and per-test service settings.

The broker is started once per test session from the cached Maven jars (or taken from
GRISTMILL_KAFKA_BOOTSTRAP when set). PostgreSQL is started in a private data directory on a free
port by tests/pg.py when its binaries are installed (scripts/ensure-postgres.sh installs them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from services.common.config import Settings
from services.common.kafka_local import LocalKafka, free_port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    external = os.environ.get("GRISTMILL_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    broker.start()
    yield broker.bootstrap
    broker.stop()


@pytest.fixture
def make_settings(tmp_path: Path):
    """Settings for a service under test: own state dir, free port, no metrics port.

    Takes the broker address from the `kafka_bootstrap` fixture only when a test asks for it,
    so unit tests run without a broker.
    """

    def make(service: str, cls: type[Settings] = Settings, **overrides) -> Settings:
        values = dict(service=service, state_dir=tmp_path / service, port=0, metrics_port=0, grace_seconds=0.5,
                      artifact_uri=(tmp_path / "artifacts").as_uri())
        values.update(overrides)
        return cls(**values)

    return make


@pytest.fixture(scope="session")
def postgres_url() -> str:
    from tests.pg import LocalPostgres

    # Not under pytest's tmp dir: that is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="gristmill-pg-"))
    pg = LocalPostgres(root)
    try:
        yield pg.start()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
