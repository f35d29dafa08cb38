from services.common import config
from services.common.grpc_server import run_until_signal
from services.deployment.config import DeploymentSettings
from services.deployment.server import build

if __name__ == "__main__":
    running, _ = build(config.load(DeploymentSettings, "deployment"), configure_logging=True)
    run_until_signal(running)
