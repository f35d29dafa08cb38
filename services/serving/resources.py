"""CPU and memory of a process: psutil when installed, else /proc (Linux).

`ProcessSampler.sample()` returns (cpu_percent since the previous sample, resident bytes). The
predictor exports its own as Prometheus gauges (`gristmill_predictor_cpu_percent`,
`gristmill_predictor_memory_bytes`), computed at scrape time, so monitoring reads them from the
same `/metrics` endpoint in local and cluster mode.
"""

from __future__ import annotations

import os
import time

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

try:  # psutil is optional
    import psutil
except ImportError:  # pragma: no cover - exercised only where psutil is missing
    psutil = None

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class ProcessSampler:
    def __init__(self, pid: int | None = None, use_psutil: bool = True) -> None:
        self.pid = pid or os.getpid()
        self._proc = psutil.Process(self.pid) if (psutil is not None and use_psutil) else None
        self._last = (time.monotonic(), self._cpu_seconds())

    def _cpu_seconds(self) -> float:
        if self._proc is not None:
            t = self._proc.cpu_times()
            return t.user + t.system
        return _proc_cpu_seconds(self.pid)

    def rss(self) -> int:
        return self._proc.memory_info().rss if self._proc is not None else _proc_rss(self.pid)

    def sample(self) -> tuple[float, int]:
        now, cpu = time.monotonic(), self._cpu_seconds()
        t0, c0 = self._last
        self._last = (now, cpu)
        pct = 100.0 * (cpu - c0) / (now - t0) if now > t0 else 0.0
        return max(0.0, pct), self.rss()


class ResourceCollector(Collector):
    """Prometheus collector: this process's CPU % (since the previous scrape) and resident memory."""

    def __init__(self, sampler: ProcessSampler | None = None) -> None:
        self.sampler = sampler or ProcessSampler()

    def collect(self):
        cpu, rss = self.sampler.sample()
        yield GaugeMetricFamily("gristmill_predictor_cpu_percent", "CPU use since the previous scrape", cpu)
        yield GaugeMetricFamily("gristmill_predictor_memory_bytes", "Resident memory", float(rss))
