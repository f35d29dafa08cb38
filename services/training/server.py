"""Training service wiring."""

from __future__ import annotations

from gristmill.events.v1 import events_pb2 as ev
from gristmill.training.v1 import training_pb2 as pb
from gristmill.training.v1 import training_pb2_grpc as pb_grpc
from services.common.errors import InvalidArgument
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.training.config import TrainingSettings
from services.training.domain import TrainingDomain
from services.training.executors import InlineExecutor, KfpLocalExecutor, KfpRemoteExecutor, gpu_request
from services.training.servicer import TrainingServicer
from services.training.tables import Base


def make_executor(settings: TrainingSettings):
    if settings.executor == "inline":
        return InlineExecutor(settings.pipeline_evaluate)
    if settings.executor == "kfp-local":
        return KfpLocalExecutor(settings.pipeline_evaluate)
    if settings.executor == "kfp":
        gpu = gpu_request(settings.gpu_count, settings.gpu_accelerator_type, settings.gpu_node_selector,
                          settings.gpu_tolerations)
        return KfpRemoteExecutor(settings.kfp_host, settings.kfp_experiment, gpu, settings.pipeline_evaluate,
                                 settings.kfp_poll_seconds)
    raise InvalidArgument(f"unknown executor {settings.executor!r}; valid: inline, kfp-local, kfp")


def build(settings: TrainingSettings, configure_logging: bool = False) -> RunningServer:
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    lookup = None
    if settings.preprocessing_address:
        from services.training.clients import PreprocessingLookup

        lookup = PreprocessingLookup(settings.preprocessing_address)
    domain = TrainingDomain(rt.store, rt.artifacts, rt.publisher, settings, make_executor(settings), lookup)
    if settings.consume_events:
        rt.consume({ev.FeaturesReady: domain.on_features_ready, ev.DriftDetected: domain.on_degradation,
                    ev.ModelDegraded: domain.on_degradation})
    domain.start()
    running = rt.serve([Registration(TrainingServicer(domain), pb_grpc.add_TrainingServiceServicer_to_server,
                                     pb.DESCRIPTOR.services_by_name["TrainingService"].full_name)])
    running.on_stop(domain.close)  # runs before the runtime closes (stop hooks run in reverse)
    if lookup is not None:
        running.on_stop(lookup.close)
    running.domain, running.runtime = domain, rt  # reachable from tests and the CLI
    return running
