"""A real single-node Apache Kafka 4.x broker (KRaft, combined broker+controller) for local mode and tests.

The broker's jars come from Maven Central through ``tools/kafka/pom.xml`` and are cached outside the repo in
``${GRISTMILL_CACHE:-~/.cache/gristmill}/kafka-<version>/libs``. The broker runs on the local JDK, bound to
127.0.0.1, detached in its own process group, with all of its state (config, data, log, pid) in ``state_dir``.

    kafka = LocalKafka(Path("/tmp/k"), port=free_port(), controller_port=free_port())
    bootstrap = kafka.start()      # "127.0.0.1:PORT", ready for clients
    ...
    kafka.stop()                   # data stays; start() again on the same state_dir resumes it

Command line, for scripts (``start`` prints the bootstrap string on stdout)::

    python -m services.common.kafka_local {fetch,start,stop,status} [--state-dir D] [--port P]
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

__all__ = ["KAFKA_VERSION", "LocalKafka", "cache_dir", "ensure_jars", "free_port"]

log = logging.getLogger(__name__)

POM = Path(__file__).resolve().parents[2] / "tools" / "kafka" / "pom.xml"
_MARKER = ".gristmill-complete"
_MVN_COPY = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"


def _pom_kafka_version(pom: Path = POM) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(pom).getroot().findtext("m:properties/m:kafka.version", namespaces=ns)
    if not version:
        raise RuntimeError(f"{pom} has no <kafka.version> property")
    return version.strip()


# The pom is the single source of truth for the version.
KAFKA_VERSION = _pom_kafka_version()


def cache_dir() -> Path:
    """Where this Kafka version's jars live: ``${GRISTMILL_CACHE:-~/.cache/gristmill}/kafka-<version>``."""
    root = os.environ.get("GRISTMILL_CACHE") or str(Path.home() / ".cache" / "gristmill")
    return Path(root).expanduser().resolve() / f"kafka-{KAFKA_VERSION}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Java binds with SO_REUSEADDR too, so TIME_WAIT leftovers of a previous broker don't count as busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise RuntimeError("java not found: install a JDK 17+ or set JAVA_HOME")
    return java


def _cluster_id() -> str:
    # Same shape as `StorageTool random-uuid` (Kafka's Uuid: url-safe base64, never starting with '-'),
    # without paying for a JVM start.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


_LOG4J2 = """\
# Written by services/common/kafka_local.py; rewritten on every start.
status = warn
# Without this, log4j's own shutdown hook races Kafka's and the last lines go to a fallback logger.
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
# One INFO line when the broker is up ("Kafka Server started") and when it stops.
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


class LocalKafka:
    """One local Kafka 4.x process in KRaft combined mode, all of its state under ``state_dir``.

    Restarting on the same ``state_dir`` keeps topics, messages and committed offsets. Keep the ports across
    restarts where you can: clients remember the address, and the controller's first address is recorded in
    the quorum state at format time (a single voter still comes up on new ports).
    """

    def __init__(
        self,
        state_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
        heap: str = "512m",
    ) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.port = port
        self.controller_port = controller_port if controller_port is not None else port + 1
        self.heap = heap
        self._proc: subprocess.Popen[bytes] | None = None

    # paths ---------------------------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def _props(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def _log4j(self) -> Path:
        return self.state_dir / "log4j2.properties"

    # jars ----------------------------------------------------------------------------------------------------
    def ensure_jars(self) -> Path:
        """Resolve the broker's jars with Maven into the cache (once) and return the libs directory."""
        return ensure_jars()

    # lifecycle -----------------------------------------------------------------------------------------------
    def start(self, timeout: float = 90) -> str:
        """Start the broker (or adopt the one already running on this state_dir), wait until it answers
        admin requests, and return its bootstrap string."""
        deadline = time.monotonic() + timeout
        if self.is_running():
            self._wait_ready(deadline)
            return self.bootstrap
        self.pid_file.unlink(missing_ok=True)

        libs = self.ensure_jars()
        for p in (self.port, self.controller_port):
            if not _port_free(p):
                raise RuntimeError(f"port {p} on 127.0.0.1 is in use; cannot start Kafka")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._props.write_text(self._server_properties())
        self._log4j.write_text(_LOG4J2)
        java = _java()
        classpath = f"{libs}/*"

        if not (self.data_dir / "meta.properties").exists():
            # --standalone makes this node the single voter of a dynamic KRaft quorum (no static
            # controller.quorum.voters), built from node.id and the CONTROLLER listener.
            cmd = [
                java,
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                *self._sysprops(),
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                _cluster_id(),
                "-c",
                str(self._props),
            ]
            res = subprocess.run(cmd, cwd=self.state_dir, capture_output=True, text=True, timeout=120)
            if res.returncode != 0:
                raise RuntimeError(
                    f"formatting Kafka storage failed ({res.returncode}):\n{res.stdout}{res.stderr}"
                )

        # C1 only (TieredStopAtLevel=1): C2 compiler threads compete with startup for the CPU; on 2 cores this
        # roughly halves the time to ready (~8 s instead of 10-20 s) and trims RSS, at a throughput cost that a
        # local broker does not notice.
        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            *self._sysprops(),
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self._props),
        ]
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as out:
            out.write(
                f"=== gristmill: starting Kafka {KAFKA_VERSION} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode()
            )
            out.flush()
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.state_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self._wait_ready(deadline, log_offset=offset)
        except BaseException:
            self.stop(timeout=10)
            raise
        return self.bootstrap

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the broker (a clean shutdown), SIGKILL it after ``timeout`` seconds, remove the pid file."""
        pid = self._pid()
        if pid is not None and self._alive(pid):
            self._signal(pid, signal.SIGTERM)
            if not self._wait_dead(pid, timeout):
                log.warning("Kafka (pid %d) did not stop within %.0fs; killing it", pid, timeout)
                self._signal(pid, signal.SIGKILL)
                self._wait_dead(pid, 10)
        self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def is_running(self) -> bool:
        pid = self._pid()
        return pid is not None and self._alive(pid)

    # internals -----------------------------------------------------------------------------------------------
    def _sysprops(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self._log4j}", f"-Dkafka.logs.dir={self.state_dir}"]

    def _server_properties(self) -> str:
        p, c = self.port, self.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{c}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),  # absolute: relative paths resolve against the JVM's cwd
            "auto.create.topics.enable": "true",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # One partition instead of 50 makes the first group join and the first transaction much faster.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "num.replica.fetchers": "1",
            "log.cleaner.threads": "1",
        }
        lines = ["# Written by services/common/kafka_local.py; rewritten on every start."]
        lines += [f"{k}={v}" for k, v in props.items()]
        return "\n".join(lines) + "\n"

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        try:
            # Reap it if it is our child (started by another LocalKafka in this process), else it stays a zombie.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        # Guard against a recycled pid: it must be this state_dir's broker.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return not Path("/proc/self").exists()  # no /proc (not Linux): trust kill(0)
        except OSError:
            return True
        return b"kafka.Kafka" in cmdline and str(self._props).encode() in cmdline

    def _signal(self, pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)  # started with start_new_session, so its group id is its pid
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _wait_dead(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(pid):
                return True
            time.sleep(0.1)
        return not self._alive(pid)

    def _log_tail(self, offset: int = 0, limit: int = 4000) -> str:
        try:
            with open(self.log_file, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")[-limit:]
        except FileNotFoundError:
            return ""

    def _wait_ready(self, deadline: float, log_offset: int = 0) -> None:
        from kafka import KafkaAdminClient  # imported late: the jar/CLI paths work without it

        last_error: Exception | None = None
        while True:
            pid = self._pid()
            if pid is None or not self._alive(pid):
                raise RuntimeError(
                    f"Kafka exited during startup; {self.log_file}:\n{self._log_tail(log_offset)}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"Kafka on {self.bootstrap} not ready in time (last error: {last_error!r}); "
                    f"{self.log_file}:\n{self._log_tail(log_offset)}"
                )
            # The admin client logs loudly on refused connections, so wait for the listener first.
            if _port_open(self.port):
                try:
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap,
                        client_id="gristmill-kafka-probe",
                        bootstrap_timeout_ms=int(max(1.0, min(left, 5.0)) * 1000),
                        request_timeout_ms=5000,
                    )
                    try:
                        admin.list_topics()
                        return
                    finally:
                        admin.close()
                except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
                    last_error = e
            time.sleep(0.25)


def ensure_jars() -> Path:
    """Copy the broker's runtime classpath into ``cache_dir()/libs`` with Maven, unless already done.

    A marker file holding the pom's hash is written after a successful copy, so an interrupted copy or a
    changed pom triggers a fresh one. A file lock keeps concurrent callers from copying twice.
    """
    cache = cache_dir()
    libs = cache / "libs"
    marker = libs / _MARKER
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text().strip() == digest:
        return libs
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text().strip() == digest:
            return libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise RuntimeError("mvn not found: install Maven 3.8+ to fetch the Kafka broker's jars")
        shutil.rmtree(libs, ignore_errors=True)  # never mix jars of two resolutions
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            _MVN_COPY,
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        log.info("fetching Kafka %s jars into %s", KAFKA_VERSION, libs)
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
        if res.returncode != 0:
            raise RuntimeError(
                f"mvn failed ({res.returncode}) resolving Kafka jars:\n{res.stdout[-4000:]}{res.stderr[-4000:]}"
            )
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"mvn succeeded but {libs} holds no kafka_2.13 jar")
        marker.write_text(digest + "\n")
    return libs


def _read_bootstrap(state_dir: Path) -> str | None:
    """The PLAINTEXT address recorded in a state_dir's server.properties, if any."""
    try:
        for line in (state_dir / "server.properties").read_text().splitlines():
            if line.startswith("advertised.listeners="):
                for listener in line.split("=", 1)[1].split(","):
                    if listener.startswith("PLAINTEXT://"):
                        return listener.removeprefix("PLAINTEXT://")
    except FileNotFoundError:
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    default_state = (
        Path(os.environ.get("GRISTMILL_CACHE") or Path.home() / ".cache" / "gristmill") / "kafka-state"
    )
    parser = argparse.ArgumentParser(
        prog="python -m services.common.kafka_local",
        description=f"Local single-node Apache Kafka {KAFKA_VERSION} (KRaft).",
    )
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--state-dir", type=Path, default=default_state, help=f"default: {default_state}")
    parser.add_argument("--port", type=int, default=9092, help="client port; the controller uses PORT+1")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for start/stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)  # our progress lines, not kafka-python's chatter

    kafka = LocalKafka(args.state_dir, port=args.port)
    if args.command == "fetch":
        print(kafka.ensure_jars())
    elif args.command == "start":
        print(kafka.start(timeout=args.timeout))
    elif args.command == "stop":
        kafka.stop(timeout=args.timeout)
    else:
        if not kafka.is_running():
            print("stopped")
            return 1
        print(f"running {_read_bootstrap(kafka.state_dir) or kafka.bootstrap} pid {kafka._pid()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
