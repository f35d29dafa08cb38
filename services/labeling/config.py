"""Labeling settings: env `GRISTMILL_LABELING_*` (falling back to `GRISTMILL_*`), see services.common.config."""

from __future__ import annotations

import dataclasses

from services.common.config import Settings


@dataclasses.dataclass
class LabelingSettings(Settings):
    service: str = "labeling"
    lease_seconds: int = 300             # a job's lease when its request or policy leaves it at 0
    max_lease_seconds: int = 86_400      # longest lease a job may ask for
    max_lease_tasks: int = 100           # LeaseTasks hands out at most this many tasks per call
    max_overlap: int = 50
    numeric_tolerance: float = 0.05      # share of the schema range (or of |value| when unbounded) within which
                                         # numeric answers agree and a gold answer counts as correct
    box_iou: float = 0.5                 # IoU at which two boxes are the same object
    dataset_cache: int = 4               # parsed dataset versions kept in memory for task payloads
    consume_events: bool = True          # consume DatasetIngested (off for RPC-only test servers)
    consumer_group_suffix: str = ""      # appended to the consumer group (isolates test servers on one broker)
