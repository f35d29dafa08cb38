"""Wiring of the labeling service."""

from __future__ import annotations

from collections.abc import Callable

from gristmill.events.v1 import events_pb2 as ev
from gristmill.labeling.v1 import labeling_pb2 as pb
from gristmill.labeling.v1 import labeling_pb2_grpc as pb_grpc
from services.common.grpc_server import Registration, RunningServer
from services.common.runtime import Runtime
from services.labeling.config import LabelingSettings
from services.labeling.domain import Base, LabelingDomain
from services.labeling.servicer import LabelingServicer


def build(settings: LabelingSettings, configure_logging: bool = False,
          clock: Callable[[], float] | None = None) -> RunningServer:
    rt = Runtime.create(settings, base=Base, configure_logging=configure_logging)
    domain = LabelingDomain(rt.store, rt.artifacts, rt.publisher, settings, **({"clock": clock} if clock else {}))
    if settings.consume_events:
        rt.consume({ev.DatasetIngested: domain.on_dataset_ingested}, group_suffix=settings.consumer_group_suffix)
    running = rt.serve([Registration(LabelingServicer(domain), pb_grpc.add_LabelingServiceServicer_to_server,
                                     pb.DESCRIPTOR.services_by_name["LabelingService"].full_name)])
    return running
