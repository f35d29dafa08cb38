from services.common import config
from services.common.grpc_server import run_until_signal
from services.monitoring.config import MonitoringSettings
from services.monitoring.server import build

if __name__ == "__main__":
    running, _ = build(config.load(MonitoringSettings, "monitoring"), configure_logging=True)
    run_until_signal(running)
