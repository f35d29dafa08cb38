"""Wiring for the ingestion service."""

from __future__ import annotations

from gristmill.ingestion.v1 import ingestion_pb2 as pb
from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.ingestion.config import IngestionSettings
from services.ingestion.domain import Ingestion
from services.ingestion.models import Base
from services.ingestion.servicer import IngestionServicer

SERVICE = pb.DESCRIPTOR.services_by_name["IngestionService"].full_name


def build(settings: IngestionSettings, configure_logging: bool = False) -> tuple[RunningServer, Ingestion]:
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    domain = Ingestion(rt.store, rt.artifacts, rt.publisher, settings)
    running = rt.serve([Registration(IngestionServicer(domain), pb_grpc.add_IngestionServiceServicer_to_server,
                                     SERVICE)])
    return running, domain
