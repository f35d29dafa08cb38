"""Deployment's own tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.store import utcnow


class Base(DeclarativeBase):
    pass


# Deployment states (mirrors deployment.v1.DeploymentState).
PENDING, READY, FAILED, ROLLED_BACK, SUPERSEDED = "PENDING", "READY", "FAILED", "ROLLED_BACK", "SUPERSEDED"


class ModelVersionRow(Base):
    """A model version's card, learned from ModelTrained (or given to Deploy)."""

    __tablename__ = "model_versions"
    model_version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    feature_set_id: Mapped[str] = mapped_column(String(64), default="")
    run_id: Mapped[str] = mapped_column(String(64), default="")
    card_uri: Mapped[str] = mapped_column(Text)
    card_sha256: Mapped[str] = mapped_column(String(64))
    card_size: Mapped[int] = mapped_column(BigInteger, default=0)
    learned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeploymentRow(Base):
    __tablename__ = "deployments"
    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    model_name: Mapped[str] = mapped_column(String(63), index=True)
    model_version_id: Mapped[str] = mapped_column(String(64))
    previous_model_version_id: Mapped[str] = mapped_column(String(64), default="")
    previous_deployment_id: Mapped[str] = mapped_column(String(64), default="")
    canary_percent: Mapped[int] = mapped_column(Integer, default=100)     # requested
    traffic_percent: Mapped[int] = mapped_column(Integer, default=0)      # current share
    state: Mapped[str] = mapped_column(String(16), index=True, default=PENDING)
    rest_endpoint: Mapped[str] = mapped_column(Text, default="")
    grpc_endpoint: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    evaluation_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="rpc")        # rpc | event
    mode: Mapped[str] = mapped_column(String(16), default="local")
    ready_timeout: Mapped[float] = mapped_column(Float, default=0.0)
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    causation_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ServerRow(Base):
    """A local KServe ModelServer process (local mode only)."""

    __tablename__ = "servers"
    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(63))
    model_version_id: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer, default=0)
    http_port: Mapped[int] = mapped_column(Integer, default=0)
    grpc_port: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="starting")   # starting | ready | stopped | failed
    log_path: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RolloutPolicyRow(Base):
    __tablename__ = "rollout_policies"
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(63), default="")
    canary_percent: Mapped[int] = mapped_column(Integer, default=100)
    manual_approval: Mapped[bool] = mapped_column(default=False)
    ready_timeout: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
