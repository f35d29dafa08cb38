"""Evaluation settings: env `GRISTMILL_EVALUATION_*` (see services.common.config)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class EvaluationSettings(Settings):
    service: str = "evaluation"
    training_address: str = "127.0.0.1:50054"   # TrainingService: GetModelVersion, trial runs
    consume_events: bool = True                  # ModelTrained (auto-evaluate), ModelDeployed (live model)
    max_study_parallelism: int = 4               # upper bound on StartStudy.parallelism
    max_study_trials: int = 200
    rpc_timeout_seconds: float = 30.0
