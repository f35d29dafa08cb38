"""Evaluation service wiring."""

from __future__ import annotations

from gristmill.evaluation.v1 import evaluation_pb2 as pb
from gristmill.evaluation.v1 import evaluation_pb2_grpc as pb_grpc
from gristmill.events.v1 import events_pb2 as ev
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.evaluation.clients import TrainingClient
from services.evaluation.config import EvaluationSettings
from services.evaluation.domain import EvaluationDomain
from services.evaluation.servicer import EvaluationServicer
from services.evaluation.tables import Base


def build(settings: EvaluationSettings, configure_logging: bool = False) -> RunningServer:
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    training = TrainingClient(settings.training_address, settings.rpc_timeout_seconds)
    domain = EvaluationDomain(rt.store, rt.artifacts, rt.publisher, settings, training)
    if settings.consume_events:
        rt.consume({ev.ModelTrained: domain.on_model_trained, ev.ModelDeployed: domain.on_model_deployed})
    domain.start()
    running = rt.serve([Registration(EvaluationServicer(domain), pb_grpc.add_EvaluationServiceServicer_to_server,
                                     pb.DESCRIPTOR.services_by_name["EvaluationService"].full_name)])
    running.on_stop(training.close)
    running.on_stop(domain.close)
    running.domain, running.runtime = domain, rt  # reachable from tests and the CLI
    return running
