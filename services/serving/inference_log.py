"""Publishing every (sampled) request/response as `InferenceLogged`, off the request path.

The request path only does `submit()`: a coin flip for sampling and a `put_nowait` onto a bounded
queue. A daemon thread drains the queue in batches and hands them to a sender; when the queue is full
(broker slow or away) the request is dropped and counted, so serving never waits for Kafka. Counters
are exported on the predictor's `/metrics` as
`gristmill_inference_log_total{outcome=queued|sampled_out|dropped|published|failed}`.

Senders:
* `process_sender` (default): the thread writes compact binary records (a small JSON header plus the
  raw float32 arrays; never pickle) to the stdin of a child process, `services.serving.log_publisher`,
  which builds the events and runs the Kafka producer. kafka-python costs 0.7-1.3 ms of CPU per record;
  in the child that no longer holds this interpreter's GIL, and it runs at a lower CPU priority.
* `kafka_sender`: the producer in this process (simpler; for tests and tools).

Events: one `InferenceLogged` per row, acks=all and idempotent like every Gristmill producer. Row ids:
a one-row request is logged under its request id; row i of a batch under `<id>#<i>`. Monitoring joins
ground truth (SubmitFeedback) on exactly these ids. Event time is when the request was answered.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaProducer
from prometheus_client import Counter

from gristmill.events.v1 import events_pb2 as ev
from services.common.bus import TOPICS, ensure_topics, headers_of, new_meta

log = logging.getLogger(__name__)

TOPIC = TOPICS[ev.InferenceLogged]
# Below the producer's and the broker's 1 MiB message limits, with room for key, headers and batch framing.
MAX_EVENT_BYTES = 1_000_000
_ROOT = str(Path(__file__).resolve().parents[2])
LOGGED = Counter("gristmill_inference_log", "InferenceLogged records by outcome", ["model_name", "outcome"])
OUTCOMES = ("queued", "sampled_out", "dropped", "published", "failed")


@dataclass
class LoggedRequest:
    request_id: str
    protocol: str                 # v1 | v2-rest | v2-grpc
    features: np.ndarray          # model input after preprocessing, N x input_shape
    outputs: np.ndarray           # N x K model outputs (probabilities or values)
    predictions: list[str]        # one per row
    latency_ms: float
    correlation_id: str = ""
    at: float = field(default_factory=time.time)   # when the request was answered (event time)


@dataclass
class Identity:
    model_name: str
    model_version_id: str
    project: str


Sender = Callable[[list[LoggedRequest]], None]


def row_id(request_id: str, i: int, n: int) -> str:
    return request_id if n == 1 else f"{request_id}#{i}"


def to_events(req: LoggedRequest, *, model_name: str, model_version_id: str, project: str,
              producer: str = "serving") -> list[ev.InferenceLogged]:
    n = len(req.features)
    feats = np.asarray(req.features, dtype=np.float64).reshape(n, -1)
    outs = np.asarray(req.outputs, dtype=np.float64).reshape(n, -1)
    shape = [int(d) for d in np.shape(req.features)[1:]]
    events = []
    at_ns = int(req.at * 1e9)
    correlation = req.correlation_id or str(uuid.uuid4())   # one per request, shared by its rows
    for i in range(n):
        meta = new_meta(producer, project, correlation)
        meta.occurred_at.FromNanoseconds(at_ns)
        events.append(ev.InferenceLogged(
            meta=meta, request_id=row_id(req.request_id, i, n),
            model_name=model_name, model_version_id=model_version_id, features=feats[i].tolist(),
            feature_shape=shape, outputs=outs[i].tolist(), prediction=req.predictions[i],
            latency_ms=float(req.latency_ms), protocol=req.protocol,
        ))
    return events


# --- the record format between the predictor and its publisher process ------------------------
def encode(req: LoggedRequest) -> bytes:
    """[u32 total][u32 header length][header JSON][features float32][outputs float32] (little endian)."""
    feats = np.ascontiguousarray(req.features, dtype=np.float32)
    outs = np.ascontiguousarray(req.outputs, dtype=np.float32)
    head = json.dumps({"id": req.request_id, "p": req.protocol, "fs": list(feats.shape), "os": list(outs.shape),
                       "y": req.predictions, "ms": req.latency_ms, "c": req.correlation_id, "at": req.at},
                      separators=(",", ":")).encode()
    body = len(head).to_bytes(4, "little") + head + feats.tobytes() + outs.tobytes()
    return len(body).to_bytes(4, "little") + body


def decode(body: bytes) -> LoggedRequest:
    n = int.from_bytes(body[:4], "little")
    h = json.loads(body[4:4 + n])
    fs, os_ = h["fs"], h["os"]
    start = 4 + n
    nf = int(np.prod(fs)) * 4
    feats = np.frombuffer(body, np.float32, int(np.prod(fs)), start).reshape(fs)
    outs = np.frombuffer(body, np.float32, int(np.prod(os_)), start + nf).reshape(os_)
    return LoggedRequest(h["id"], h["p"], feats, outs, h["y"], h["ms"], h["c"], h["at"])


# --- senders --------------------------------------------------------------------------------------
def make_log_producer(bootstrap: str, client_id: str, linger_ms: int = 5) -> KafkaProducer:
    """acks=all and idempotent like every Gristmill producer, but never blocking for long."""
    ensure_topics(bootstrap, [TOPIC])
    return KafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=True,
        linger_ms=linger_ms, batch_size=256 * 1024, retries=2**31 - 1, delivery_timeout_ms=120_000,
        max_in_flight_requests_per_connection=5, max_block_ms=10_000, reconnect_backoff_ms=200,
        reconnect_backoff_max_ms=2000)


def publish(producer: KafkaProducer, events: list[ev.InferenceLogged]) -> int:
    """Send the events; returns how many went without their features.

    A row whose input does not fit in one Kafka message (e.g. a 224x224x3 image as doubles) is logged
    without `features`: monitoring still gets its prediction, latency and feedback, but not drift."""
    stripped = 0
    for e in events:
        value = e.SerializeToString()
        if len(value) > MAX_EVENT_BYTES:
            del e.features[:]
            value, stripped = e.SerializeToString(), stripped + 1
        producer.send(TOPIC, value=value, key=e.model_name.encode(), headers=headers_of(e))
    if stripped:
        log.warning("logged %d inference rows without features: over %d bytes each", stripped, MAX_EVENT_BYTES)
    return stripped


def kafka_sender(bootstrap: str, client_id: str, who: Identity) -> Sender:
    """Send from this process (one lazily created producer)."""
    state: dict[str, KafkaProducer] = {}

    def send(batch: list[LoggedRequest]) -> None:
        if "p" not in state:
            state["p"] = make_log_producer(bootstrap, client_id)
        for req in batch:
            publish(state["p"], to_events(req, model_name=who.model_name, model_version_id=who.model_version_id,
                                          project=who.project))

    def close() -> None:
        if "p" in state:
            state["p"].flush(timeout=5)
            state["p"].close(timeout=5)

    send.close = close  # type: ignore[attr-defined]
    return send


def process_sender(bootstrap: str, client_id: str, who: Identity, respawn_after: float = 5.0) -> Sender:
    """Send through a child process (`python -m services.serving.log_publisher`) fed over its stdin.

    The child batches (linger 100 ms): records reach Kafka a little later, for about half the CPU. A
    slow or unreachable broker fills the pipe, then the logger's bounded queue, and requests are
    dropped and counted; a dead child is started again after a back-off (doubling up to a minute).
    """
    state: dict[str, Any] = {"proc": None, "retry_at": 0.0, "started": 0.0, "delay": respawn_after}

    def spawn() -> subprocess.Popen:
        now = time.monotonic()
        state["delay"] = respawn_after if now - state["started"] > 60 else min(60.0, 2 * state["delay"])
        state["started"], state["retry_at"] = now, now + state["delay"]
        return subprocess.Popen(
            [sys.executable, "-m", "services.serving.log_publisher", bootstrap, client_id, who.model_name,
             who.model_version_id, who.project],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=None,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH", ""))
                                                            if p)))

    state["proc"] = spawn()  # now, so its imports overlap model loading

    def send(batch: list[LoggedRequest]) -> None:
        proc = state["proc"]
        if proc.poll() is not None:
            if time.monotonic() < state["retry_at"]:
                raise ConnectionError(f"the log publisher process exited ({proc.poll()}); restarting soon")
            state["proc"] = proc = spawn()
        try:
            proc.stdin.write(b"".join(encode(r) for r in batch))
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ConnectionError(f"log publisher process exited ({proc.poll()})") from exc

    def close() -> None:
        proc = state["proc"]
        try:
            proc.stdin.close()          # EOF: the child flushes its producer and exits
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=5)

    send.close = close  # type: ignore[attr-defined]
    send.process = lambda: state["proc"]  # type: ignore[attr-defined]
    return send


# --- the logger -------------------------------------------------------------------------------------
class InferenceLogger:
    """Bounded queue + publisher thread. `submit` never blocks."""

    def __init__(self, send: Sender, *, model_name: str, sample_rate: float = 1.0, queue_size: int = 10_000,
                 max_batch: int = 256, rng: random.Random | None = None) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"log sample rate must be within [0, 1], got {sample_rate}")
        self._send = send
        self.model_name = model_name
        self.sample_rate = sample_rate
        self.max_batch = max_batch
        self._q: queue.Queue[LoggedRequest | None] = queue.Queue(maxsize=max(1, queue_size))
        self._rng = rng or random.Random()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self._metric = {o: LOGGED.labels(model_name, o) for o in OUTCOMES}
        self._retry_at = 0.0

    def _count(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] += n
        self._metric[outcome].inc(n)

    # --- request path ------------------------------------------------------------------------
    def submit(self, req: LoggedRequest) -> bool:
        """Queue a request for publishing; False when sampled out or dropped (queue full)."""
        if self.sample_rate < 1.0 and self._rng.random() >= self.sample_rate:
            self._count("sampled_out")
            return False
        try:
            self._q.put_nowait(req)
        except queue.Full:
            self._count("dropped")
            return False
        self._count("queued")
        return True

    # --- publisher thread ----------------------------------------------------------------------
    def start(self) -> InferenceLogger:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._q.get()
            batch, stop = [], item is None
            if item is not None:
                batch.append(item)
            while not stop and len(batch) < self.max_batch:  # drain what else is waiting: one write
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                self._publish(batch)
            if stop:
                return

    def _publish(self, batch: list[LoggedRequest]) -> None:
        n = sum(len(r.features) for r in batch)
        if time.monotonic() < self._retry_at:  # publisher known to be away: shed load instead of queueing
            self._count("failed", n)
            return
        try:
            self._send(batch)
            self._count("published", n)
        except Exception as exc:  # noqa: BLE001 - logging must never take the predictor down
            self._retry_at = time.monotonic() + 5.0
            self._count("failed", n)
            log.warning("could not publish InferenceLogged: %s", exc)

    def close(self, timeout: float = 5.0) -> None:
        """Drain what is queued (bounded by `timeout`), then stop the thread and the sender."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None:
            try:
                self._q.put(None, timeout=timeout)
            except queue.Full:
                pass
            self._thread.join(timeout=timeout)
        close = getattr(self._send, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001
                log.warning("inference log sender did not close cleanly")
