from services.common import config
from services.common.grpc_server import run_until_signal
from services.preprocessing.config import PreprocessingSettings
from services.preprocessing.server import build

if __name__ == "__main__":
    run_until_signal(build(config.load(PreprocessingSettings, "preprocessing"), configure_logging=True))
