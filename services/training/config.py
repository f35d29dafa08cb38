"""Training settings: env `GRISTMILL_TRAINING_*` (see services.common.config)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class TrainingSettings(Settings):
    service: str = "training"
    # How runs execute: kfp-local (kfp.local SubprocessRunner, one driver process per run),
    # kfp (submit to the KFP endpoint in kfp_host), inline (a thread in this process; tests, trials).
    # Empty: kfp when kfp_host is set, else kfp-local.
    executor: str = ""
    max_concurrent_runs: int = 2          # beyond this, runs wait in state QUEUED
    run_root: str = ""                    # run dirs (metrics, checkpoints); default <state_dir>/runs
    pipeline_evaluate: bool = True        # run the pipeline's evaluate step
    torch_threads: int = 0                # per training process; 0: torch's default
    consume_events: bool = True           # consume FeaturesReady
    preprocessing_address: str = ""       # ask preprocessing for feature sets not yet seen in events
    # cluster mode (GRISTMILL_TRAINING_KFP_HOST)
    kfp_host: str = ""
    kfp_experiment: str = "gristmill"
    kfp_poll_seconds: float = 5.0
    gpu_count: int = 0                    # > 0: the train step requests this many accelerators
    gpu_accelerator_type: str = "nvidia.com/gpu"
    gpu_node_selector: str = "nvidia.com/gpu.present=true"        # k=v,k2=v2
    gpu_tolerations: str = "nvidia.com/gpu:Exists:NoSchedule"     # key[=value]:operator:effect;...
    cancel_wait_seconds: float = 15.0     # CancelRun waits this long for the run to stop

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.run_root:
            self.run_root = (self.state_dir / "runs").as_uri()
        if not self.executor:
            self.executor = "kfp" if self.kfp_host else "kfp-local"
