"""Training's tables: feature sets it has heard of, runs, epoch metrics, model versions, policies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.store import utcnow


class Base(DeclarativeBase):
    pass


class FeatureSetRow(Base):
    """A feature set announced by FeaturesReady (or fetched from preprocessing)."""

    __tablename__ = "feature_sets"
    feature_set_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset_version_id: Mapped[str] = mapped_column(String(64), default="")
    task: Mapped[str] = mapped_column(String(32))
    input_shape: Mapped[str] = mapped_column(Text)          # JSON list
    num_classes: Mapped[int] = mapped_column(Integer, default=0)
    class_names: Mapped[str] = mapped_column(Text, default="[]")
    splits: Mapped[str] = mapped_column(Text)               # JSON {split: {uri, sha256, size_bytes}}
    transform: Mapped[str] = mapped_column(Text, default="{}")
    split_rows: Mapped[str] = mapped_column(Text, default="{}")
    target_width: Mapped[int] = mapped_column(Integer, default=0)  # regression/forecasting y width, 0: unknown
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    feature_set_id: Mapped[str] = mapped_column(String(64), index=True)
    spec: Mapped[str] = mapped_column(Text)                 # JSON of the TrainingSpec as submitted
    spec_hash: Mapped[str] = mapped_column(String(64))
    job: Mapped[str] = mapped_column(Text)                  # JSON the pipeline runs (resolved)
    state: Mapped[str] = mapped_column(String(16), index=True)  # QUEUED RUNNING SUCCEEDED FAILED CANCELLED
    message: Mapped[str] = mapped_column(Text, default="")
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[str] = mapped_column(String(64), default="")
    trigger: Mapped[str] = mapped_column(String(200), default="rpc")
    executor: Mapped[str] = mapped_column(String(16), default="")
    kfp_run_id: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    resumed_from_epoch: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    causation_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EpochRow(Base):
    __tablename__ = "epoch_metrics"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    train_loss: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float] = mapped_column(Float)
    train_metric: Mapped[float] = mapped_column(Float)
    val_metric: Mapped[float] = mapped_column(Float)
    metric_name: Mapped[str] = mapped_column(String(32))
    learning_rate: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    model_version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    feature_set_id: Mapped[str] = mapped_column(String(64))
    dataset_version_id: Mapped[str] = mapped_column(String(64), default="")
    task: Mapped[str] = mapped_column(String(32))
    architecture: Mapped[str] = mapped_column(String(32))
    weights: Mapped[str] = mapped_column(Text)              # JSON {uri, sha256, size_bytes, media_type}
    card: Mapped[str] = mapped_column(Text)
    curve: Mapped[str] = mapped_column(Text, default="{}")
    transform: Mapped[str] = mapped_column(Text, default="{}")
    metrics: Mapped[str] = mapped_column(Text, default="{}")
    finetuned_from: Mapped[str] = mapped_column(String(64), default="")
    trigger: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class PolicyRow(Base):
    __tablename__ = "training_policies"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    auto_train: Mapped[bool] = mapped_column(Boolean, default=False)
    retrain_on_drift: Mapped[bool] = mapped_column(Boolean, default=False)
    retrain_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    model: Mapped[str] = mapped_column(Text, default="{}")   # JSON ModelSpec
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON TrainingParams
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AutoTrainGuard(Base):
    """At most one event-triggered run per (feature set, spec): redelivered or re-announced
    FeaturesReady never trains twice."""

    __tablename__ = "auto_train_guard"
    feature_set_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
