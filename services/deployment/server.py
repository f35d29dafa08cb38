"""Wiring for the deployment service."""

from __future__ import annotations

from gristmill.deployment.v1 import deployment_pb2 as pb
from gristmill.deployment.v1 import deployment_pb2_grpc as pb_grpc
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.deployment import events
from services.deployment.config import DeploymentSettings
from services.deployment.domain import Deployments
from services.deployment.gateway import Gateway, GatewayServer
from services.deployment.models import Base
from services.deployment.servicer import DeploymentServicer

SERVICE = pb.DESCRIPTOR.services_by_name["DeploymentService"].full_name


def build(settings: DeploymentSettings, configure_logging: bool = False, backend=None
          ) -> tuple[RunningServer, Deployments]:
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    domain = Deployments(rt.store, rt.artifacts, rt.publisher, settings, backend=backend)
    rt.consume(events.handlers(domain))
    running = rt.serve([Registration(DeploymentServicer(domain), pb_grpc.add_DeploymentServiceServicer_to_server,
                                     SERVICE)])
    domain.start()
    running.on_stop(domain.close)  # runs before Runtime.close (stop hooks run in reverse)
    if settings.mode == "local" and settings.gateway_port:
        gateway = GatewayServer(Gateway(domain.endpoints), settings.host, settings.gateway_port,
                                settings.gateway_grpc_port)
        gateway.start()
        running.on_stop(gateway.stop)
    return running, domain
