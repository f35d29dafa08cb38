"""Evaluation's tables: models it has heard of, evaluations, gate policies, live models, studies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.store import utcnow


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    """A model version learned from ModelTrained or fetched with GetModelVersion (never training's DB)."""

    __tablename__ = "models"
    model_version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str] = mapped_column(String(64), default="")
    feature_set_id: Mapped[str] = mapped_column(String(64), default="")
    weights: Mapped[str] = mapped_column(Text)   # JSON {uri, sha256}
    card: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    evaluation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    model_version_id: Mapped[str] = mapped_column(String(64), index=True)
    feature_set_id: Mapped[str] = mapped_column(String(64), default="")
    splits: Mapped[str] = mapped_column(Text)      # JSON list of {split, metrics, confusion_matrix, num_classes}
    diagnosis: Mapped[str] = mapped_column(Text)   # JSON {verdict, evidence, recommendations}
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    gate_metric: Mapped[str] = mapped_column(String(64), default="")
    gate_split: Mapped[str] = mapped_column(String(32), default="")
    candidate_value: Mapped[float] = mapped_column(Float, default=0.0)
    baseline_model_version_id: Mapped[str] = mapped_column(String(64), default="")
    baseline_value: Mapped[float] = mapped_column(Float, default=0.0)
    trigger: Mapped[str] = mapped_column(String(64), default="rpc")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class GatePolicyRow(Base):
    __tablename__ = "gate_policies"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), default="")
    split: Mapped[str] = mapped_column(String(32), default="test")
    direction: Mapped[str] = mapped_column(String(16), default="")
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_improvement: Mapped[float] = mapped_column(Float, default=0.0)
    ignore_live: Mapped[bool] = mapped_column(Boolean, default=False)
    skip_auto_evaluate: Mapped[bool] = mapped_column(Boolean, default=False)
    block_on_overfitting: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LiveModelRow(Base):
    """The project's model serving all traffic, learned from ModelDeployed."""

    __tablename__ = "live_models"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StudyRow(Base):
    __tablename__ = "studies"
    study_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    feature_set_id: Mapped[str] = mapped_column(String(64))
    request: Mapped[str] = mapped_column(Text)        # JSON of the validated request
    state: Mapped[str] = mapped_column(String(16))    # running, succeeded, failed
    message: Mapped[str] = mapped_column(Text, default="")
    best_trial: Mapped[int] = mapped_column(Integer, default=-1)
    best_value: Mapped[float] = mapped_column(Float, default=0.0)
    best_params: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrialRow(Base):
    __tablename__ = "trials"
    study_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    value: Mapped[float] = mapped_column(Float, default=0.0)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running, complete, pruned, failed
    run_id: Mapped[str] = mapped_column(String(64), default="")
    intermediate: Mapped[str] = mapped_column(Text, default="[]")
    model_version_id: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
