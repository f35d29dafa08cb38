"""Metadata store on SQLAlchemy: SQLite by default, PostgreSQL by URL.

Each service declares its tables on its own `DeclarativeBase` and calls `Store(url, Base)`.
Every store also holds two shared tables: `processed_events` (consumer idempotency) and
`outbox` (events written in the same transaction as the state change, then relayed to Kafka,
so a committed change never loses its event).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from services.common.errors import NotFound
from services.common.ids import decode_page_token, encode_page_token, page_size
from services.common.migrations import migrate

T = TypeVar("T")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_or_not_found(session: Session, row_type: type[T], key: str, what: str) -> T:
    """The row with primary key `key`, or NotFound naming it as `what` ("run", "dataset version")."""
    row = session.get(row_type, key)
    if row is None:
        raise NotFound(f"{what} {key!r} does not exist")
    return row


def paginate(session: Session, query: Select, size: int, token: str) -> tuple[list, str]:
    """One page of an ordered query and the token of the next page ("" on the last one)."""
    n, offset = page_size(size), decode_page_token(token)
    rows = list(session.scalars(query.offset(offset).limit(n + 1)))
    return rows[:n], encode_page_token(offset + n) if len(rows) > n else ""


class InfraBase(DeclarativeBase):
    pass


class ProcessedEvent(InfraBase):
    __tablename__ = "processed_events"
    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxRecord(InfraBase):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(Text)  # JSON list of [name, base64 value]
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # WAL lets readers run beside the single writer
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Store:
    def __init__(self, url: str, base: type[DeclarativeBase] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        InfraBase.metadata.create_all(self.engine)
        if base is not None:  # the service's revisions sit beside the module that declares its tables
            migrate(self.engine, base.metadata, Path(sys.modules[base.__module__].__file__).parent / "migrations")
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    # --- idempotency ---------------------------------------------------------------------------
    @staticmethod
    def already_processed(s: Session, group_id: str, event_id: str) -> bool:
        return s.get(ProcessedEvent, (group_id, event_id)) is not None

    @staticmethod
    def mark_processed(s: Session, group_id: str, event_id: str) -> None:
        s.add(ProcessedEvent(group_id=group_id, event_id=event_id))

    # --- outbox --------------------------------------------------------------------------------
    @staticmethod
    def add_outbox(s: Session, event_id: str, topic: str, key: str, payload: bytes,
                   headers: list[tuple[str, bytes]]) -> None:
        enc = json.dumps([[k, base64.b64encode(v).decode()] for k, v in headers])
        s.add(OutboxRecord(event_id=event_id, topic=topic, key=key, payload=payload, headers=enc))

    def pending_outbox(self, limit: int = 100) -> list[OutboxRecord]:
        with self.session() as s:
            rows = s.scalars(
                select(OutboxRecord).where(OutboxRecord.published.is_(False)).order_by(OutboxRecord.id).limit(limit)
            ).all()
            return list(rows)

    def mark_published(self, record_id: int) -> None:
        with self.session() as s:
            rec = s.get(OutboxRecord, record_id)
            if rec is not None:
                rec.published = True

    @staticmethod
    def decode_headers(rec: OutboxRecord) -> list[tuple[str, bytes]]:
        return [(k, base64.b64decode(v)) for k, v in json.loads(rec.headers)]
