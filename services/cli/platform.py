"""The local platform: the broker and every service as processes under one state directory.

<state>/kafka/      broker data, log and pid (unless GRISTMILL_KAFKA_BOOTSTRAP names a broker)
<state>/logs/NAME.log, <state>/pids/NAME.pid, <state>/NAME.db, <state>/artifacts/
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.config import SERVICE_PORTS, default_state_dir
from services.common.kafka_local import LocalKafka

ROOT = Path(__file__).resolve().parents[2]
KAFKA_PORT = 9092


def available_services() -> list[str]:
    """Services in SERVICE_PORTS order that have an entry point in this checkout."""
    return [name for name in SERVICE_PORTS if (ROOT / "services" / name / "__main__.py").exists()]


def healthy(port: int, timeout: float = 1.0) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            res = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
            return res.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.RpcError:
            return False


@dataclass
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    alive: bool
    healthy: bool


class Platform:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.state = Path(state_dir or default_state_dir())
        self.logs, self.pids = self.state / "logs", self.state / "pids"
        self.external_kafka = os.environ.get("GRISTMILL_KAFKA_BOOTSTRAP", "")
        self.kafka = LocalKafka(self.state / "kafka", port=int(os.environ.get("GRISTMILL_LOCAL_KAFKA_PORT", KAFKA_PORT)))

    @property
    def bootstrap(self) -> str:
        return self.external_kafka or self.kafka.bootstrap

    def port(self, name: str) -> int:
        return int(os.environ.get(f"GRISTMILL_{name.upper()}_PORT", SERVICE_PORTS[name]))

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.pids / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited: reap it
                return None
        except ChildProcessError:
            pass  # started by another `gristmill up`
        try:
            os.kill(pid, 0)
            return pid
        except ProcessLookupError:
            return None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(GRISTMILL_STATE_DIR=str(self.state), GRISTMILL_KAFKA_BOOTSTRAP=self.bootstrap,
                   PYTHONUNBUFFERED="1")
        return env

    def up(self, services: list[str] | None = None, timeout: float = 120, progress=None) -> list[ServiceStatus]:
        """Start what is not running and return once everything answers health checks."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        if not self.external_kafka:
            if progress:
                progress("kafka", "starting")
            self.kafka.start()
        names = services or available_services()
        for name in names:
            if self._pid(name) is None:
                if healthy(self.port(name), 0.5):
                    raise RuntimeError(f"port {self.port(name)} is already served by another {name}; "
                                       "stop it or set GRISTMILL_{name.upper()}_PORT")
                log = open(self.logs / f"{name}.log", "ab")
                proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=self.env(),
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
                (self.pids / f"{name}.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                if self._pid(name) is None:
                    raise RuntimeError(f"{name} exited during start-up; see {self.logs / (name + '.log')}:\n"
                                       + self.tail(name))
                if healthy(self.port(name)):
                    pending.discard(name)
                    if progress:
                        progress(name, "healthy")
            time.sleep(0.3)
        if pending:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {sorted(pending)}")
        return self.status()

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def down(self, timeout: float = 30) -> None:
        for name in reversed(list(SERVICE_PORTS)):
            pid = self._pid(name)
            if pid is not None:
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in SERVICE_PORTS:
            while self._pid(name) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            pid = self._pid(name)
            if pid is not None:
                os.killpg(pid, signal.SIGKILL)
            (self.pids / f"{name}.pid").unlink(missing_ok=True)
        if not self.external_kafka:
            self.kafka.stop()

    def status(self) -> list[ServiceStatus]:
        out = []
        for name in available_services():
            pid = self._pid(name)
            out.append(ServiceStatus(name, self.port(name), pid, pid is not None,
                                     pid is not None and healthy(self.port(name))))
        return out
