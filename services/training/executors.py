"""Where a run's pipeline executes.

* `KfpLocalExecutor` (local mode, the default): `python -m pipelines.local_driver job.json` in its
  own process group; the driver runs the pipeline with kfp.local's SubprocessRunner.
* `KfpRemoteExecutor` (cluster mode): the same pipeline compiled (with GPU requests when asked)
  and submitted to a KFP endpoint with `kfp.Client(host)`; status is followed by polling.
* `InlineExecutor`: the same step functions in a thread of this process (tests, bench, trials
  where a subprocess per run costs more than the run).

An `Execution` is polled by the service: `poll()` returns None while running, else True/False.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from services.common.errors import Unavailable
from services.training.rundir import RunDir

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


class Execution:
    kfp_run_id: str = ""
    pid: int = 0

    def poll(self) -> bool | None:
        raise NotImplementedError

    def error(self) -> str:
        return ""

    def stop(self) -> None:
        """Ask the run to stop (the service already wrote the CANCEL flag)."""


# ----------------------------------------------------------------------------------------------
# inline
# ----------------------------------------------------------------------------------------------
class InlineExecution(Execution):
    def __init__(self, job: dict[str, Any], rundir: RunDir, evaluate: bool) -> None:
        self._stop = threading.Event()
        self._ok: bool | None = None
        self._error = ""
        self._thread = threading.Thread(target=self._run, args=(job, rundir, evaluate),
                                        name=f"train-{job['run_id']}", daemon=True)
        self._thread.start()

    def _run(self, job: dict[str, Any], rundir: RunDir, evaluate: bool) -> None:
        from services.training import steps

        try:
            with tempfile.TemporaryDirectory(prefix="gristmill-inline-") as tmp:
                paths = [os.path.join(tmp, f"{s}.npz") for s in steps.SPLITS]
                steps.load_features_step(job, *paths)
                model_path = os.path.join(tmp, "model.safetensors")
                result = steps.train_step(job, paths[0], paths[1], model_path, should_stop=self._stop.is_set)
                if evaluate:
                    steps.evaluate_step(job, result, model_path, paths[2])
            self._ok = True
        except Exception as exc:  # noqa: BLE001 - the run fails, the service goes on
            self._error = f"{type(exc).__name__}: {exc}"
            log.info("inline run failed", extra={"run_id": job["run_id"], "error": self._error,
                                                 "trace": traceback.format_exc(limit=5)})
            self._ok = False

    def poll(self) -> bool | None:
        return None if self._thread.is_alive() else self._ok

    def error(self) -> str:
        return self._error

    def stop(self) -> None:
        self._stop.set()


class InlineExecutor:
    name = "inline"

    def __init__(self, evaluate: bool = True) -> None:
        self.evaluate = evaluate

    def check_available(self) -> None:
        return None

    def start(self, job: dict[str, Any], rundir: RunDir) -> Execution:
        return InlineExecution(job, rundir, self.evaluate)

    def reattach(self, job: dict[str, Any], rundir: RunDir, kfp_run_id: str) -> Execution | None:
        return None


# ----------------------------------------------------------------------------------------------
# kfp local: one driver process per run
# ----------------------------------------------------------------------------------------------
class LocalDriverExecution(Execution):
    def __init__(self, job: dict[str, Any], rundir: RunDir, evaluate: bool) -> None:
        if not rundir.local:
            raise Unavailable("the kfp-local executor needs a local run_root")
        job_path = Path(rundir.path) / "job.json"
        log_path = Path(rundir.path) / "driver.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if job.get("threads"):
            env["OMP_NUM_THREADS"] = str(job["threads"])
        cmd = [sys.executable, "-m", "pipelines.local_driver", str(job_path)]
        if not evaluate:
            cmd.append("--no-evaluate")
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        rundir.write_bytes("driver.pid", str(self.pid).encode())
        self.rundir = rundir

    def poll(self) -> bool | None:
        code = self.proc.poll()
        if code is None:
            return None
        self._log.close()
        return code == 0

    def error(self) -> str:
        try:
            tail = (Path(self.rundir.path) / "driver.log").read_text(errors="replace").splitlines()[-400:]
        except OSError:
            return f"driver exited with {self.proc.returncode}"
        # the most telling line: the last exception raised inside a step
        for line in reversed(tail):
            s = line.strip()
            if s.startswith(("services.common.errors.", "InvalidArgument", "FloatingPointError")) or (
                    "Error: " in s and not s.startswith(("File ", "raise", "RuntimeError: Pipeline"))):
                return s[:2000]
        return f"driver exited with {self.proc.returncode}; see {self.rundir.path}/driver.log"

    def stop(self) -> None:
        # The trainer sees the CANCEL flag within a batch; kill the process group if it lingers.
        def reap() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.2)
            if self.proc.poll() is None:
                kill_group(self.proc.pid)

        threading.Thread(target=reap, daemon=True).start()


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
        time.sleep(1)
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stale_driver_alive(pid: int, run_id: str) -> bool:
    """Whether `pid` is still a driver of `run_id` (a leftover from a crashed service)."""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "pipelines.local_driver" in cmdline and run_id in cmdline


class KfpLocalExecutor:
    name = "kfp-local"

    def __init__(self, evaluate: bool = True) -> None:
        self.evaluate = evaluate

    def check_available(self) -> None:
        return None

    def start(self, job: dict[str, Any], rundir: RunDir) -> Execution:
        return LocalDriverExecution(job, rundir, self.evaluate)

    def reattach(self, job: dict[str, Any], rundir: RunDir, kfp_run_id: str) -> Execution | None:
        return None


# ----------------------------------------------------------------------------------------------
# kfp remote
# ----------------------------------------------------------------------------------------------
_TERMINAL_OK = {"SUCCEEDED"}
_TERMINAL_BAD = {"FAILED", "CANCELED", "CANCELLED", "SKIPPED", "CANCELING"}


class RemoteExecution(Execution):
    def __init__(self, client, kfp_run_id: str, poll_seconds: float) -> None:
        self.client, self.kfp_run_id, self.poll_seconds = client, kfp_run_id, poll_seconds
        self._last = 0.0
        self._state = ""
        self._error = ""

    def poll(self) -> bool | None:
        now = time.monotonic()
        if now - self._last < self.poll_seconds:
            return None
        self._last = now
        try:
            run = self.client.get_run(self.kfp_run_id)
        except Exception as exc:  # noqa: BLE001 - keep following; the endpoint may come back
            log.warning("KFP status poll failed", extra={"kfp_run_id": self.kfp_run_id, "error": str(exc)})
            return None
        self._state = str(getattr(run, "state", "") or "").upper()
        if self._state in _TERMINAL_OK:
            return True
        if self._state in _TERMINAL_BAD:
            err = getattr(run, "error", None)
            self._error = f"KFP run {self.kfp_run_id} ended {self._state}" + (f": {err}" if err else "")
            return False
        return None

    def error(self) -> str:
        return self._error

    def stop(self) -> None:
        try:
            self.client.terminate_run(self.kfp_run_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("KFP terminate failed", extra={"kfp_run_id": self.kfp_run_id, "error": str(exc)})


class KfpRemoteExecutor:
    """Submits the compiled pipeline to a KFP endpoint (cluster mode)."""

    name = "kfp"

    def __init__(self, host: str, experiment: str, gpu, evaluate: bool = True, poll_seconds: float = 5.0) -> None:
        self.host, self.experiment, self.gpu = host, experiment, gpu
        self.evaluate, self.poll_seconds = evaluate, poll_seconds

    def client(self):
        """A kfp.Client; its constructor checks the endpoint's health."""
        if not self.host:
            raise Unavailable("no KFP endpoint configured: set GRISTMILL_TRAINING_KFP_HOST")
        try:
            import kfp

            return kfp.Client(host=self.host)
        except Exception as exc:  # noqa: BLE001 - urllib3 MaxRetryError, ApiException, ...
            raise Unavailable(f"KFP endpoint {self.host} is unreachable ({type(exc).__name__}: "
                              f"{str(exc)[:300]}); check GRISTMILL_TRAINING_KFP_HOST and that the "
                              f"ml-pipeline API server is up") from exc

    def check_available(self) -> None:
        self.client()

    def package(self, directory: str) -> str:
        from kfp import compiler

        from pipelines.training import build_pipeline

        path = os.path.join(directory, "training.yaml")
        compiler.Compiler().compile(build_pipeline(self.gpu), package_path=path)
        return path

    def start(self, job: dict[str, Any], rundir: RunDir) -> Execution:
        import json

        client = self.client()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                result = client.create_run_from_pipeline_package(
                    self.package(tmp), arguments={"job": json.dumps(job), "evaluate": self.evaluate},
                    run_name=f"gristmill-{job['run_id']}", experiment_name=self.experiment, enable_caching=False)
            except Exception as exc:  # noqa: BLE001
                raise Unavailable(f"KFP endpoint {self.host} refused the run: {type(exc).__name__}: {exc}") from exc
        return RemoteExecution(client, result.run_id, self.poll_seconds)

    def reattach(self, job: dict[str, Any], rundir: RunDir, kfp_run_id: str) -> Execution | None:
        if not kfp_run_id:
            return None
        return RemoteExecution(self.client(), kfp_run_id, self.poll_seconds)


def gpu_request(count: int, accelerator_type: str, node_selector: str, tolerations: str):
    """A pipelines.training.GpuRequest from settings strings (None when count is 0)."""
    if count <= 0:
        return None
    from pipelines.training import GpuRequest, Toleration

    selector = tuple(tuple(kv.split("=", 1)) for kv in node_selector.split(",") if "=" in kv)
    tols = []
    for item in filter(None, (t.strip() for t in tolerations.split(";"))):
        key, operator, effect = (item.split(":") + ["", ""])[:3]
        value = ""
        if "=" in key:
            key, value = key.split("=", 1)
        tols.append(Toleration(key=key, operator=operator or "Exists", value=value, effect=effect or "NoSchedule"))
    return GpuRequest(accelerator_type=accelerator_type, count=count, node_selector=selector,
                      tolerations=tuple(tols))
