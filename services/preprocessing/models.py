"""Tables of the preprocessing service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.artifacts import Artifact
from services.common.store import utcnow


class Base(DeclarativeBase):
    pass


class SpecRow(Base):
    """Every revision of a project's feature spec; the highest revision is the current one."""

    __tablename__ = "feature_specs"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeatureSetRow(Base):
    __tablename__ = "feature_sets"
    __table_args__ = (UniqueConstraint("project", "dataset_version_id", "spec_revision", name="uq_feature_set_key"),)
    feature_set_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    dataset_version_id: Mapped[str] = mapped_column(String(200))
    spec_revision: Mapped[int] = mapped_column(Integer)
    artifacts: Mapped[dict[str, Any]] = mapped_column(JSON)      # train/validation/test/transform -> ref dict
    split_rows: Mapped[dict[str, int]] = mapped_column(JSON)
    cleaning: Mapped[dict[str, int]] = mapped_column(JSON)
    augmented_rows: Mapped[int] = mapped_column(Integer, default=0)
    task: Mapped[str] = mapped_column(String(32))
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    class_names: Mapped[list[str]] = mapped_column(JSON)
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


def ref_dict(a: Artifact) -> dict[str, Any]:
    return {"uri": a.uri, "sha256": a.sha256, "size_bytes": a.size_bytes, "media_type": a.media_type}


def artifact_of(d: dict[str, Any]) -> Artifact:
    return Artifact(d["uri"], d["sha256"], int(d["size_bytes"]), d.get("media_type", ""))
