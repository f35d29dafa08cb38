"""Wiring for the preprocessing service."""

from __future__ import annotations

from gristmill.events.v1 import events_pb2 as ev
from gristmill.preprocessing.v1 import preprocessing_pb2 as pb
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pb_grpc
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.preprocessing.config import PreprocessingSettings
from services.preprocessing.domain import Preprocessing
from services.preprocessing.events import DatasetLabeledHandler
from services.preprocessing.models import Base
from services.preprocessing.servicer import PreprocessingServicer

SERVICE = pb.DESCRIPTOR.services_by_name["PreprocessingService"].full_name


def wire(settings: PreprocessingSettings, configure_logging: bool = False
         ) -> tuple[Runtime, Preprocessing, list[Registration]]:
    """Everything but the start: tests reach the runtime's consumer before serving."""
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    domain = Preprocessing(rt.store, rt.artifacts, rt.publisher, settings)
    rt.consume({ev.DatasetLabeled: DatasetLabeledHandler(domain)})
    return rt, domain, [Registration(PreprocessingServicer(domain), pb_grpc.add_PreprocessingServiceServicer_to_server,
                                     SERVICE)]


def build(settings: PreprocessingSettings, configure_logging: bool = False) -> RunningServer:
    rt, _, registrations = wire(settings, configure_logging)
    return rt.serve(registrations)
