"""Monitoring's own tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.store import utcnow


class Base(DeclarativeBase):
    pass


class FeatureSetRow(Base):
    """A feature set's training split (the drift reference), learned from FeaturesReady or SetReference."""

    __tablename__ = "feature_sets"
    feature_set_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), default="")
    train_uri: Mapped[str] = mapped_column(Text)
    train_sha256: Mapped[str] = mapped_column(String(64))
    transform_uri: Mapped[str] = mapped_column(Text, default="")
    transform_sha256: Mapped[str] = mapped_column(String(64), default="")
    task: Mapped[str] = mapped_column(String(32), default="")          # classification | regression | ...
    input_shape: Mapped[list] = mapped_column(JSON, default=list)
    learned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    """model version -> feature set (from ModelTrained or SetReference)."""

    __tablename__ = "model_versions"
    model_version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), default="")
    feature_set_id: Mapped[str] = mapped_column(String(64))


class ServedModelRow(Base):
    """Where a model name is served (from ModelDeployed): used to read the predictor's resource gauges."""

    __tablename__ = "served_models"
    model_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), default="")
    model_version_id: Mapped[str] = mapped_column(String(64), default="")
    rest_endpoint: Mapped[str] = mapped_column(Text, default="")
    grpc_endpoint: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ReferenceRow(Base):
    """The reference sample of a feature set, reduced to drift columns, stored as an NPZ artifact."""

    __tablename__ = "references"
    feature_set_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    reduction: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InferenceRow(Base):
    """One logged prediction (one row of a request), its window and, later, its ground truth."""

    __tablename__ = "inferences"
    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), default="")
    model_name: Mapped[str] = mapped_column(String(63))
    model_version_id: Mapped[str] = mapped_column(String(64))
    features: Mapped[bytes] = mapped_column(LargeBinary)               # float32, flattened model input
    feature_dim: Mapped[int] = mapped_column(Integer)
    outputs_len: Mapped[int] = mapped_column(Integer, default=0)
    prediction: Mapped[str] = mapped_column(Text, default="")
    prediction_value: Mapped[float | None] = mapped_column(Float, nullable=True)   # numeric predictions
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    protocol: Mapped[str] = mapped_column(String(16), default="")
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    report_id: Mapped[str | None] = mapped_column(String(64), nullable=True)      # the window it fell in
    ground_truth: Mapped[str | None] = mapped_column(Text, nullable=True)
    ground_truth_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    labeled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (
        Index("ix_inferences_window", "model_name", "model_version_id", "report_id", "occurred_at"),
        Index("ix_inferences_recent", "model_name", "occurred_at"),
    )


class FeedbackRow(Base):
    """Ground truth that arrived before its prediction was logged; joined when the record arrives."""

    __tablename__ = "pending_feedback"
    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    ground_truth: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DriftReportRow(Base):
    __tablename__ = "drift_reports"
    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), default="")
    model_name: Mapped[str] = mapped_column(String(63), index=True)
    model_version_id: Mapped[str] = mapped_column(String(64))
    feature_set_id: Mapped[str] = mapped_column(String(64))
    columns: Mapped[list] = mapped_column(JSON)
    drift_share: Mapped[float] = mapped_column(Float)
    drift_share_threshold: Mapped[float] = mapped_column(Float)
    dataset_drift: Mapped[bool] = mapped_column(Boolean)
    window_rows: Mapped[int] = mapped_column(Integer)
    reference_rows: Mapped[int] = mapped_column(Integer)
    reduction: Mapped[str] = mapped_column(String(64))
    html_uri: Mapped[str] = mapped_column(Text, default="")
    html_sha256: Mapped[str] = mapped_column(String(64), default="")
    html_size: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AlertRulesRow(Base):
    __tablename__ = "alert_rules"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(63), primary_key=True, default="")   # "": every model
    max_drift_share: Mapped[float] = mapped_column(Float, default=0.0)
    min_accuracy: Mapped[float] = mapped_column(Float, default=0.0)
    max_mae: Mapped[float] = mapped_column(Float, default=0.0)
    window_size: Mapped[int] = mapped_column(Integer, default=0)
    window_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    retrain_on_drift: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AlertStateRow(Base):
    """Whether a model version is currently degraded on a metric, so ModelDegraded fires on the transition."""

    __tablename__ = "alert_state"
    model_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    model_version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    value: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
