"""Loading a model version for serving: card -> weights + fitted preprocessing, every byte verified.

* The card is read from its URI and must match the sha256 the deployer gives (`--card_sha256`).
* Weights and transform are read with the checksums the card records; a mismatch refuses to load.
* Weights must be safetensors (an 8-byte little-endian header length, then a JSON header):
  anything else, a pickle in particular, is refused before any deserializer sees it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from services.common.artifacts import ArtifactStore
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.modelzoo import LoadedModel, ModelCard, load_model

log = logging.getLogger(__name__)


@dataclass
class ServedVersion:
    card: ModelCard
    model: LoadedModel
    transform: Any | None   # services.common.features.FittedTransform, when the card names one


def check_safetensors(data: bytes, what: str = "weights") -> dict:
    """The safetensors header of `data`, or FailedPrecondition when `data` is not safetensors."""
    if len(data) < 10:
        raise FailedPrecondition(f"{what} are not safetensors: only {len(data)} bytes")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data) or data[8:9] != b"{":
        raise FailedPrecondition(f"{what} are not safetensors (bad header; pickled weights are never loaded)")
    try:
        header = json.loads(data[8: 8 + n])
    except (ValueError, UnicodeDecodeError) as exc:
        raise FailedPrecondition(f"{what} are not safetensors: header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise FailedPrecondition(f"{what} are not safetensors: header is not an object")
    return header


def load_transform(text: str):
    from services.common.features import FittedTransform

    return FittedTransform.from_json(text)


def load_version(artifacts: ArtifactStore, card_uri: str, card_sha256: str) -> ServedVersion:
    if not card_uri:
        raise InvalidArgument("card_uri is required")
    if not card_sha256:
        raise InvalidArgument("card_sha256 is required: serving never loads an unverified card")
    card = ModelCard.from_json(artifacts.read_bytes(card_uri, card_sha256).decode())
    if not card.weights_uri or not card.weights_sha256:
        raise FailedPrecondition(f"model card {card.model_version_id} has no weights_uri/weights_sha256")
    weights = artifacts.read_bytes(card.weights_uri, card.weights_sha256)
    check_safetensors(weights)
    model = load_model(card, weights)
    transform = None
    if card.transform_uri:
        if not card.transform_sha256:
            raise FailedPrecondition(f"model card {card.model_version_id} names a transform without its sha256")
        transform = load_transform(artifacts.read_bytes(card.transform_uri, card.transform_sha256).decode())
    log.info("loaded model version %s (%s/%s, input %s, transform %s)", card.model_version_id, card.task,
             card.architecture, card.input_shape, "yes" if transform is not None else "no")
    return ServedVersion(card, model, transform)
