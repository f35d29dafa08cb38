"""Local mode: one KServe ModelServer process (`python -m services.serving`) per live deployment.

Each server gets its own free port pair on 127.0.0.1 and is ready when KServe's
`/v2/models/<name>/ready` answers 200 and its gRPC port accepts connections. A server that exits or
misses the readiness deadline is stopped and the rollout fails; nothing else changes.

Traffic split: the deployment service's model gateway (`gateway.py`, REST and V2 gRPC) routes each
request to a READY deployment by the weights recorded on the deployments, which are also reported with
both endpoints (`Deployment.endpoints`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.deployment.config import DeploymentSettings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


class RolloutFailed(Exception):
    """The new version did not become ready; the message says why (with the server's log tail)."""


@dataclass
class Endpoints:
    rest: str
    grpc: str
    pid: int = 0
    http_port: int = 0
    grpc_port: int = 0
    log_path: str = ""


@dataclass
class Target:
    deployment_id: str
    project: str
    model_name: str
    model_version_id: str
    card_uri: str
    card_sha256: str
    current: Endpoints | None = None   # where it serves now, if it does


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    """Whether a server could listen on `port`. SO_REUSEADDR as the servers bind: connections a killed
    server left half-closed (a client's pooled keep-alive ones) must not count as taken."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def is_model_server(pid: int) -> bool:
    """True when `pid` is alive and runs `services.serving` (a recorded pid may have been reused)."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"services.serving" in f.read()
    except OSError:
        return True  # no /proc: trust the pid


class LocalServers:
    """Starts, watches and stops ModelServer processes."""

    def __init__(self, settings: DeploymentSettings) -> None:
        self.settings = settings
        self.host = settings.serving_host
        self.log_dir = Path(settings.state_dir) / "servers"
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def command(self, t: Target, http_port: int, grpc_port: int) -> list[str]:
        return [sys.executable, "-m", "services.serving", "--model_name", t.model_name, "--card_uri", t.card_uri,
                "--card_sha256", t.card_sha256, "--http_port", str(http_port), "--grpc_port", str(grpc_port),
                "--enable_latency_logging", "false"]

    def environment(self, t: Target) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update({
            "GRISTMILL_ARTIFACT_URI": s.artifact_uri, "GRISTMILL_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "GRISTMILL_SERVING_LOG_SAMPLE_RATE": str(s.serving_log_sample_rate),
            "GRISTMILL_STATE_DIR": str(s.state_dir), "GRISTMILL_SERVING_PROJECT": t.project,
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        })
        if s.s3_endpoint_url:
            env["GRISTMILL_S3_ENDPOINT_URL"] = s.s3_endpoint_url
        return env

    def start(self, t: Target, timeout: float, ports: tuple[int, int] | None = None) -> Endpoints:
        """Start a server for `t` (on `ports` when both are free, else on a fresh free pair) and wait until
        it is ready; RolloutFailed otherwise."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if ports and all(p > 0 and _port_free(self.host, p) for p in ports) and ports[0] != ports[1]:
            http_port, grpc_port = ports
        else:
            http_port, grpc_port = free_port(self.host), free_port(self.host)
        while grpc_port == http_port:
            grpc_port = free_port(self.host)
        log_path = self.log_dir / f"{t.model_name}-{t.deployment_id}.log"
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(self.command(t, http_port, grpc_port), stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=ROOT, env=self.environment(t),
                                    start_new_session=True)
        with self._lock:
            self._procs[t.deployment_id] = proc
        log.info("started ModelServer", extra={"deployment_id": t.deployment_id, "pid": proc.pid,
                                               "http_port": http_port, "grpc_port": grpc_port})
        ep = Endpoints(f"http://{self.host}:{http_port}", f"{self.host}:{grpc_port}", proc.pid, http_port,
                       grpc_port, str(log_path))
        try:
            self._wait_ready(proc, t.model_name, ep, timeout, log_path)
        except RolloutFailed:
            self.stop(t.deployment_id, proc.pid)
            raise
        return ep

    def _wait_ready(self, proc: subprocess.Popen, model_name: str, ep: Endpoints, timeout: float,
                    log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        url = f"{ep.rest}/v2/models/{model_name}/ready"
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    raise RolloutFailed(f"model server exited with code {code} before it was ready: "
                                        f"{_tail(log_path)}")
                try:
                    if client.get(url).status_code == 200 and _port_open(self.host, ep.grpc_port):
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= deadline:
                    raise RolloutFailed(f"model server was not ready within {timeout:g} s: {_tail(log_path)}")
                time.sleep(0.2)

    def alive(self, deployment_id: str, pid: int = 0) -> bool:
        with self._lock:
            proc = self._procs.get(deployment_id)
        if proc is not None:
            return proc.poll() is None
        return is_model_server(pid)

    def stop(self, deployment_id: str, pid: int = 0, grace: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL after `grace` seconds."""
        with self._lock:
            proc = self._procs.pop(deployment_id, None)
        if proc is None and not is_model_server(pid):
            return  # not ours (any more): never signal a reused pid
        pid = proc.pid if proc is not None else pid
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if (proc.poll() is not None) if proc is not None else not pid_alive(pid):
                break
            time.sleep(0.05)
        else:
            _signal_group(pid, signal.SIGKILL)
            if proc is not None:
                proc.wait(timeout=5)
        if proc is not None and proc.poll() is None:
            proc.wait(timeout=5)
        log.info("stopped ModelServer", extra={"deployment_id": deployment_id, "pid": pid})

    def stop_all(self) -> None:
        with self._lock:
            ids = list(self._procs)
        for d in ids:
            self.stop(d)


class LocalBackend:
    """The deployment backend of local mode (see the module docstring for traffic splitting)."""

    mode = "local"

    def __init__(self, settings: DeploymentSettings) -> None:
        self.servers = LocalServers(settings)

    def rollout(self, t: Target, stable: Target | None, canary_percent: int, timeout: float) -> Endpoints:
        return self.servers.start(t, timeout)

    def promote(self, t: Target, stable: Target | None) -> None:
        """Nothing to route locally; the domain retires the old server after recording 100 %."""

    def restore(self, stable: Target, retired: Target, timeout: float) -> Endpoints:
        cur = stable.current
        if cur is not None and cur.pid and self.servers.alive(stable.deployment_id, cur.pid):
            return cur  # a canary's stable version is still running
        return self.servers.start(stable, timeout)

    def retire(self, t: Target) -> None:
        self.servers.stop(t.deployment_id, t.current.pid if t.current else 0)

    def alive(self, t: Target) -> bool:
        return self.servers.alive(t.deployment_id, t.current.pid if t.current else 0)

    def restart(self, t: Target, timeout: float) -> Endpoints:
        """Start a READY deployment's server again, on its old ports when they are free."""
        cur = t.current
        return self.servers.start(t, timeout, (cur.http_port, cur.grpc_port) if cur else None)

    def close(self) -> None:
        self.servers.stop_all()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # started with start_new_session: the group id is the pid
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _tail(path: Path, lines: int = 3, limit: int = 600) -> str:
    """The last lines of a server log (the error is usually there), shortened for a status message."""
    try:
        text = path.read_bytes()[-8192:].decode(errors="replace")
    except OSError:
        return "(no log)"
    last = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    out = " | ".join(last) or "(empty log)"
    return out if len(out) <= limit else "..." + out[-limit:]
