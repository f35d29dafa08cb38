"""Events monitoring consumes and emits.

Consumes: FeaturesReady (feature set -> train split, the drift reference), ModelTrained (model
version -> feature set), ModelDeployed (model name -> predictor endpoint, for resource gauges),
InferenceLogged (the windows). Emits: DriftDetected (a report whose drifted share reaches the
rules' threshold, when retrain_on_drift) and ModelDegraded (accuracy below / MAE above the rules).
"""

from __future__ import annotations

from google.protobuf.message import Message

from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import Handler
from services.monitoring.domain import Monitoring


def handlers(domain: Monitoring) -> dict[type[Message], Handler]:
    return {ev.FeaturesReady: domain.on_features_ready, ev.ModelTrained: domain.on_model_trained,
            ev.ModelDeployed: domain.on_model_deployed, ev.InferenceLogged: domain.on_inference_logged}
