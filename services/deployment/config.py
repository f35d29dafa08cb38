from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class DeploymentSettings(Settings):
    """Env `GRISTMILL_DEPLOYMENT_*` (then `GRISTMILL_*`). `mode` (local | cluster) picks the backend."""

    ready_timeout: float = 120.0          # seconds a new server / InferenceService gets to become ready
    stop_servers_on_exit: bool = True     # local: stop the ModelServer processes when the service stops
    serving_host: str = "127.0.0.1"       # local: where ModelServers listen
    serving_log_sample_rate: float = 1.0  # passed to the predictors (GRISTMILL_SERVING_LOG_SAMPLE_RATE)
    worker_interval: float = 0.5          # seconds between scans for pending rollouts
    supervise_interval: float = 5.0       # local: seconds between liveness checks of READY servers (0: off)
    gateway_port: int = 8088              # local: one REST address for every model, split by canary weights (0: off)
    gateway_grpc_port: int = 8089         # local: the same for V2 gRPC (0: off)
    # cluster mode
    namespace: str = "gristmill"
    serving_image: str = "gristmill/predictor:0.1.0"  # built by docker/predictor.Dockerfile
    service_account: str = ""
    storage_env: str = ""                 # comma-separated NAME=VALUE pairs given to the predictor container
