"""python -m services.training: serve TrainingService on 50054 (GRISTMILL_TRAINING_PORT)."""

from services.common import config
from services.common.grpc_server import run_until_signal
from services.training.config import TrainingSettings
from services.training.server import build


def main() -> None:
    run_until_signal(build(config.load(TrainingSettings, "training"), configure_logging=True))


if __name__ == "__main__":
    main()
