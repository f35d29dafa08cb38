"""Start the labeling service: `python -m services.labeling` (port 50052 unless GRISTMILL_LABELING_PORT)."""

from __future__ import annotations

from services.common import config
from services.common.grpc_server import run_until_signal
from services.labeling.config import LabelingSettings
from services.labeling.server import build


def main() -> None:
    run_until_signal(build(config.load(LabelingSettings, "labeling"), configure_logging=True))


if __name__ == "__main__":
    main()
