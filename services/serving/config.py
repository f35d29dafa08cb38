from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class ServingSettings(Settings):
    """Predictor settings (env `GRISTMILL_SERVING_*`, then `GRISTMILL_*`).

    The model itself (name, card URI and checksum, ports) comes from the command line, as KServe's
    own model servers take it; these are the platform-wide knobs.
    """

    project: str = ""                 # default: the model card's project
    log_enabled: bool = True          # publish InferenceLogged at all
    log_sample_rate: float = 1.0      # fraction of requests published (0..1)
    log_queue_size: int = 10_000      # requests buffered for the publisher thread; more are dropped and counted
    log_publisher: str = "process"    # process: Kafka client in a child process (off the GIL); thread: in-process
    max_batch: int = 4096             # rows per request; larger requests get 400 / INVALID_ARGUMENT
    torch_threads: int = 1            # intra-op threads per worker (0: torch's default). Small models gain
                                      # nothing from more, and on a shared host extra threads thrash; scale
                                      # with --workers or replicas instead
