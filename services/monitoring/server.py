"""Wiring for the monitoring service."""

from __future__ import annotations

from gristmill.monitoring.v1 import monitoring_pb2 as pb
from gristmill.monitoring.v1 import monitoring_pb2_grpc as pb_grpc
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.monitoring import events
from services.monitoring.config import MonitoringSettings
from services.monitoring.domain import Monitoring
from services.monitoring.models import Base
from services.monitoring.servicer import MonitoringServicer

SERVICE = pb.DESCRIPTOR.services_by_name["MonitoringService"].full_name


def build(settings: MonitoringSettings, configure_logging: bool = False, consume: bool = True
          ) -> tuple[RunningServer, Monitoring]:
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    domain = Monitoring(rt.store, rt.artifacts, rt.publisher, settings)
    if consume:
        rt.consume(events.handlers(domain))
    running = rt.serve([Registration(MonitoringServicer(domain), pb_grpc.add_MonitoringServiceServicer_to_server,
                                     SERVICE)])
    domain.start()
    running.on_stop(domain.close)
    return running, domain
