"""python -m services.evaluation: serve EvaluationService on 50055 (GRISTMILL_EVALUATION_PORT)."""

from services.common import config
from services.common.grpc_server import run_until_signal
from services.evaluation.config import EvaluationSettings
from services.evaluation.server import build


def main() -> None:
    run_until_signal(build(config.load(EvaluationSettings, "evaluation"), configure_logging=True))


if __name__ == "__main__":
    main()
