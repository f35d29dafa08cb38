"""`python -m services.serving --model_name N --card_uri U --card_sha256 S --http_port P --grpc_port Q`

Every KServe ModelServer flag works too (`--workers`, `--grpc_max_receive_message_length`, ...).
Platform settings come from the environment (`GRISTMILL_ARTIFACT_URI`, `GRISTMILL_KAFKA_BOOTSTRAP`,
`GRISTMILL_SERVING_LOG_SAMPLE_RATE`, ...; see services/serving/config.py).
"""

from __future__ import annotations

import argparse
import logging
import sys

from kserve import ModelServer
from kserve.model_server import parser as kserve_parser  # kserve parses sys.argv at import: parents= only

from services.common import config
from services.common.artifacts import ArtifactStore
from services.common.errors import GristmillError
from services.serving.server import build_model

log = logging.getLogger("services.serving")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(parents=[kserve_parser], description="Gristmill KServe predictor")
    parser.add_argument("--card_uri", required=True, help="model card artifact URI")
    parser.add_argument("--card_sha256", required=True, help="sha256 of the model card bytes")
    parser.add_argument("--project", default="", help="project (default: the card's)")
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from services.serving.config import ServingSettings

    settings = config.load(ServingSettings, "serving")
    try:
        model = build_model(args.model_name, args.card_uri, args.card_sha256, settings,
                            ArtifactStore(settings.artifact_uri, settings.s3_endpoint_url), project=args.project)
    except (GristmillError, ValueError) as exc:
        print(f"gristmill-serving: cannot load {args.card_uri}: {exc}", file=sys.stderr)
        return 2
    server = ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers,
                         enable_grpc=True, enable_latency_logging=args.enable_latency_logging)
    # after ModelServer configured KServe's logging: one access line and two timing lines per
    # request cost more than the forward pass of a small model
    for noisy in ("uvicorn.access", "kserve.trace", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server.start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
