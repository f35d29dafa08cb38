"""Wiring for the predictor: load the version, attach the inference logger and resource gauges."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY

from services.common.artifacts import ArtifactStore
from services.serving.config import ServingSettings
from services.serving.inference_log import Identity, InferenceLogger, kafka_sender, process_sender
from services.serving.loader import load_version
from services.serving.predictor import GristmillModel
from services.serving.resources import ResourceCollector

log = logging.getLogger(__name__)
_collector: ResourceCollector | None = None


def register_resource_gauges() -> None:
    global _collector
    if _collector is None:
        _collector = ResourceCollector()
        REGISTRY.register(_collector)


def build_model(model_name: str, card_uri: str, card_sha256: str, settings: ServingSettings,
                artifacts: ArtifactStore, project: str = "") -> GristmillModel:
    if settings.torch_threads > 0:
        import torch

        torch.set_num_threads(settings.torch_threads)
    version = load_version(artifacts, card_uri, card_sha256)
    logger = None
    if settings.log_enabled and settings.kafka_bootstrap:
        who = Identity(model_name, version.card.model_version_id, project or settings.project or version.card.project)
        sender = process_sender if settings.log_publisher == "process" else kafka_sender
        logger = InferenceLogger(sender(settings.kafka_bootstrap, f"serving-{model_name}", who),
                                 model_name=model_name, sample_rate=settings.log_sample_rate,
                                 queue_size=settings.log_queue_size).start()
    register_resource_gauges()
    return GristmillModel(model_name, version, logger, max_batch=settings.max_batch)
