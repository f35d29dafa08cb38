"""Settings from the environment.

Global settings use the `GRISTMILL_` prefix; a service's own use `GRISTMILL_<NAME>_`.
A dataclass field `foo_bar` reads `GRISTMILL_<NAME>_FOO_BAR`, falling back to the global
`GRISTMILL_FOO_BAR`, then to the default.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

# Default gRPC ports of ARCHITECTURE.md; metrics are served on 9100 + index.
SERVICE_PORTS = {
    "ingestion": 50051,
    "labeling": 50052,
    "preprocessing": 50053,
    "training": 50054,
    "evaluation": 50055,
    "deployment": 50056,
    "monitoring": 50057,
}
METRICS_PORTS = {name: 9101 + i for i, name in enumerate(SERVICE_PORTS)}


def default_state_dir() -> Path:
    return Path(os.environ.get("GRISTMILL_STATE_DIR", Path.cwd() / ".gristmill")).resolve()


@dataclasses.dataclass
class Settings:
    """What every service needs. Subclass it to add a service's own fields."""

    service: str = "gristmill"
    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int = 0               # 0: no metrics endpoint (tests)
    state_dir: Path = dataclasses.field(default_factory=default_state_dir)
    database_url: str = ""              # default: sqlite file per service under state_dir
    artifact_uri: str = ""              # default: file://<state_dir>/artifacts
    s3_endpoint_url: str = ""
    kafka_bootstrap: str = "127.0.0.1:9092"
    log_level: str = "INFO"
    mode: str = "local"                 # local | cluster
    grace_seconds: float = 5.0
    max_message_mb: int = 64

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.state_dir / (self.service + '.db')}"
        if not self.artifact_uri:
            self.artifact_uri = (self.state_dir / "artifacts").as_uri()


S = TypeVar("S", bound=Settings)


def _coerce(raw: str, typ: Any) -> Any:
    if typ in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if typ in (int, "int"):
        return int(raw)
    if typ in (float, "float"):
        return float(raw)
    if typ in (Path, "Path"):
        return Path(raw)
    return raw


def load(cls: type[S], service: str, **overrides: Any) -> S:
    """Build settings for `service` from the environment, then apply overrides."""
    hints = get_type_hints(cls)
    values: dict[str, Any] = {"service": service}
    if service in SERVICE_PORTS:
        values["port"] = SERVICE_PORTS[service]
        values["metrics_port"] = METRICS_PORTS[service]
    for f in dataclasses.fields(cls):
        if f.name == "service":
            continue
        for key in (f"GRISTMILL_{service.upper()}_{f.name.upper()}", f"GRISTMILL_{f.name.upper()}"):
            if key in os.environ:
                values[f.name] = _coerce(os.environ[key], hints[f.name])
                break
    values.update(overrides)
    return cls(**values)
