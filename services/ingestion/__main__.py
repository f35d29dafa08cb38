from services.common import config
from services.common.grpc_server import run_until_signal
from services.ingestion.config import IngestionSettings
from services.ingestion.server import build

if __name__ == "__main__":
    running, _ = build(config.load(IngestionSettings, "ingestion"), configure_logging=True)
    run_until_signal(running)
