"""Events deployment consumes (ModelTrained, ModelEvaluated) and emits (ModelDeployed).

* `ModelTrained` -> remember model_version_id -> model card (URI + sha256) in deployment's own DB.
* `ModelEvaluated` (passed) -> a PENDING deployment under the project's rollout policy; the rollout
  worker starts it and stages `ModelDeployed` with the endpoints in the same transaction that marks
  it READY (also after Promote and Rollback, naming the version that serves from then on).
"""

from __future__ import annotations

from google.protobuf.message import Message

from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import Handler
from services.deployment.domain import Deployments


def handlers(domain: Deployments) -> dict[type[Message], Handler]:
    return {ev.ModelTrained: domain.on_model_trained, ev.ModelEvaluated: domain.on_model_evaluated}
