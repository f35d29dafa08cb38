"""Serving and drift overhead against bare baselines, side by side in one run.

    .venv/bin/python bench/serving.py [--requests 400] [--kafka] [--rows 1000]

Latency (batch of 1, 8x8 CNN, loopback, keep-alive):
* bare: `LoadedModel.predict` in-process (no server at all);
* minimal: a minimal `kserve.Model` doing the same forward on the same preprocessed FP32 tensor;
* gristmill: `python -m services.serving` (input validation, V2 outputs with labels, InferenceLogged
  queueing; with `--kafka` a local broker receives every request, else logging is off), on the same
  preprocessed tensor, and once more on raw uint8 pixels (the fitted transform runs in the server);
* gristmill via gateway: the same REST and gRPC requests through the local model gateway (its own
  process here, inside the deployment service in the platform) to the same gristmill server.
REST is V2 JSON through one httpx client, gRPC is V2 `ModelInfer` with raw contents through one stub.
Requests alternate between the servers in rounds so background load hits both alike.
Goal: gristmill p50 <= 1.2 x minimal.

Drift (64-pixel inputs reduced to 18 columns, `--rows` reference rows vs a 500-row window):
* Evidently: `Report([DataDriftPreset()], include_tests=True).run` on the reduced frames (+ save_html);
* gristmill: `drift.run_drift` (reduction + the same report + result parsing) (+ save_html).
Goal: <= 1.2 x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MINIMAL = r'''
import argparse, sys
sys.path.insert(0, sys.argv.pop(1))
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.model_server import parser as kserve_parser
from services.common.artifacts import ArtifactStore
from services.common.modelzoo import ModelCard, load_model

class Minimal(Model):
    def __init__(self, name, loaded):
        super().__init__(name); self.m = loaded; self.ready = True
    async def predict(self, payload, headers=None, response_headers=None):
        p = self.m.predict(payload.inputs[0].as_numpy()).astype(np.float32)
        out = InferOutput(name="probabilities", shape=list(p.shape), datatype="FP32")
        out.set_data_from_numpy(p, binary_data=payload.from_grpc and payload.use_binary_outputs)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[out])

p = argparse.ArgumentParser(parents=[kserve_parser])
p.add_argument("--artifacts"); p.add_argument("--card_uri"); p.add_argument("--card_sha256")
a, _ = p.parse_known_args()
store = ArtifactStore(a.artifacts)
card = ModelCard.from_json(store.read_bytes(a.card_uri, a.card_sha256).decode())
model = Minimal(a.model_name, load_model(card, store.read_bytes(card.weights_uri, card.weights_sha256)))
server = ModelServer(http_port=a.http_port, grpc_port=a.grpc_port, enable_latency_logging=False)
import logging
for n in ("uvicorn.access", "kserve.trace"):
    logging.getLogger(n).setLevel(logging.WARNING)
server.start([model])
'''


GATEWAY = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from services.deployment.domain import EndpointView
from services.deployment.gateway import Gateway, GatewayServer
rest, grpc_target, port, grpc_port = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
GatewayServer(Gateway(lambda name: [EndpointView("dep-bench", "mv-bench", rest, grpc_target, 100)]), "127.0.0.1",
              port, grpc_port).start()
while True:
    time.sleep(3600)
'''


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def start(cmd: list[str], env: dict, port: int, name: str, log: Path) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/models/m/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} not ready")


def bench_latency(args, tmp: Path) -> list[tuple[str, float, float]]:
    import grpc
    import httpx
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as gpb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as ggrpc

    from services.common.artifacts import ArtifactStore
    from services.common.modelzoo import load_model
    from services.deployment.local import free_port
    from services.serving.testing import make_version, raw_images

    store = ArtifactStore((tmp / "artifacts").as_uri())
    made = make_version(store, "image", version_id="mv-bench")
    x = made.transform.apply(raw_images(1, seed=1))                      # (1, 1, 8, 8) float32
    px = raw_images(1, seed=1)                                           # (1, 8, 8) uint8

    import torch

    torch.set_num_threads(1)
    loaded = load_model(made.card, store.read_bytes(made.card.weights_uri, made.card.weights_sha256))
    for _ in range(50):
        loaded.predict(x)
    bare = []
    for _ in range(args.requests):
        t0 = time.perf_counter()
        loaded.predict(x)
        bare.append(time.perf_counter() - t0)

    broker = None
    # one intra-op thread everywhere (gristmill's serving default; torch's default oversubscribes a shared host)
    env = dict(os.environ, GRISTMILL_ARTIFACT_URI=store.root_uri, GRISTMILL_KAFKA_BOOTSTRAP="",
               GRISTMILL_STATE_DIR=str(tmp), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    if args.kafka:
        from services.common.kafka_local import LocalKafka

        broker = LocalKafka(tmp / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        env["GRISTMILL_KAFKA_BOOTSTRAP"] = broker.bootstrap
    ports = {k: (free_port(), free_port()) for k in ("minimal", "gristmill")}
    minimal_py = tmp / "minimal_server.py"
    minimal_py.write_text(MINIMAL)
    procs = []
    try:
        hp, gp = ports["minimal"]
        procs.append(start([sys.executable, str(minimal_py), str(ROOT), "--model_name", "m", "--http_port", str(hp),
                            "--grpc_port", str(gp), "--artifacts", store.root_uri, "--card_uri", made.card_ref.uri,
                            "--card_sha256", made.card_ref.sha256], env, hp, "minimal", tmp / "minimal.log"))
        hp, gp = ports["gristmill"]
        procs.append(start([sys.executable, "-m", "services.serving", "--model_name", "m", "--card_uri",
                            made.card_ref.uri, "--card_sha256", made.card_ref.sha256, "--http_port", str(hp),
                            "--grpc_port", str(gp), "--enable_latency_logging", "false"], env, hp, "gristmill",
                           tmp / "gristmill.log"))
        gateway_py, gw, ggw = tmp / "gateway.py", free_port(), free_port()
        gateway_py.write_text(GATEWAY)
        procs.append(start([sys.executable, str(gateway_py), str(ROOT), f"http://127.0.0.1:{hp}", f"127.0.0.1:{gp}",
                            str(gw), str(ggw)], env, gw, "gateway", tmp / "gateway.log"))
        body_pre = {"inputs": [{"name": "x", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                "data": x.reshape(-1).tolist()}]}
        body_raw = {"inputs": [{"name": "x", "shape": [1, 8, 8], "datatype": "UINT8",
                                "data": px.reshape(-1).tolist()}]}
        req_pre = gpb.ModelInferRequest(model_name="m", inputs=[gpb.ModelInferRequest.InferInputTensor(
            name="x", datatype="FP32", shape=[1, 1, 8, 8])], raw_input_contents=[x.tobytes()])
        req_raw = gpb.ModelInferRequest(model_name="m", inputs=[gpb.ModelInferRequest.InferInputTensor(
            name="x", datatype="UINT8", shape=[1, 8, 8])], raw_input_contents=[px.tobytes()])
        http = httpx.Client(headers={"content-type": "application/json"})
        pre_json, raw_json = json.dumps(body_pre), json.dumps(body_raw)
        stubs = {k: ggrpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{gp}"))
                 for k, (_, gp) in [*ports.items(), ("gateway", (gw, ggw))]}
        cases = {  # name -> (callable)
            "REST minimal": lambda: http.post(f"http://127.0.0.1:{ports['minimal'][0]}/v2/models/m/infer",
                                              content=pre_json),
            "REST gristmill": lambda: http.post(f"http://127.0.0.1:{ports['gristmill'][0]}/v2/models/m/infer",
                                                content=pre_json),
            "REST gristmill raw": lambda: http.post(f"http://127.0.0.1:{ports['gristmill'][0]}/v2/models/m/infer",
                                                    content=raw_json),
            "REST gristmill via gateway": lambda: http.post(f"http://127.0.0.1:{gw}/v2/models/m/infer",
                                                            content=pre_json),
            "gRPC minimal": lambda: stubs["minimal"].ModelInfer(req_pre, timeout=10),
            "gRPC gristmill": lambda: stubs["gristmill"].ModelInfer(req_pre, timeout=10),
            "gRPC gristmill raw": lambda: stubs["gristmill"].ModelInfer(req_raw, timeout=10),
            "gRPC gristmill via gateway": lambda: stubs["gateway"].ModelInfer(req_pre, timeout=10),
        }
        for fn in cases.values():                     # warm up, and check every case answers
            for _ in range(30):
                r = fn()
                if hasattr(r, "status_code") and r.status_code != 200:
                    raise SystemExit(f"bad response {r.status_code}: {r.text}")
        times: dict[str, list[float]] = {k: [] for k in cases}
        cpu: dict[str, float] = {k: 0.0 for k in cases}
        server_of = {"minimal": procs[0].pid, "gristmill": procs[1].pid}
        rounds, per = max(1, args.requests // 25), 25
        for _ in range(rounds):                       # interleave so background load hits all alike
            for name, fn in cases.items():
                pid = server_of["minimal" if "minimal" in name else "gristmill"]
                c0 = process_cpu(pid)
                for _ in range(per):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
                cpu[name] += process_cpu(pid) - c0
        http.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if broker is not None:
            broker.stop()
    rows = [("bare forward (in-process)", pct(bare, 50), pct(bare, 99), statistics.mean(bare) * 1000)]
    rows += [(k, pct(v, 50), pct(v, 99), cpu[k] * 1000 / len(v)) for k, v in times.items()]
    return rows


def process_cpu(pid: int) -> float:
    """CPU seconds of a server process and its children (the log publisher), from /proc via psutil."""
    import psutil

    p = psutil.Process(pid)
    total = sum(p.cpu_times()[:2])
    for c in p.children(recursive=True):
        try:
            total += sum(c.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def bench_drift(args, tmp: Path) -> list[tuple[str, float, float]]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from services.monitoring import drift
    from services.serving.testing import image_transform, raw_images

    t = image_transform()
    ref_x = t.apply(raw_images(args.rows, seed=1)).reshape(args.rows, -1)
    cur_x = t.apply(raw_images(500, seed=2, shift=0.1)).reshape(500, -1)
    red = drift.Reduction.fit(ref_x)
    ref_df = red.frame(ref_x)

    def direct(html=None):
        cur = red.frame(cur_x)
        dd = DataDefinition(numerical_columns=list(cur.columns))
        snap = Report([DataDriftPreset()], include_tests=True).run(
            current_data=Dataset.from_pandas(cur, data_definition=dd),
            reference_data=Dataset.from_pandas(ref_df, data_definition=dd))
        if html:
            snap.save_html(html)
        return snap

    def ours(html=None):
        return drift.run_drift(ref_df, red.frame(cur_x), 0.5, html)

    direct()  # warm-up (imports, first-run caches)
    ours()
    res = {"Evidently direct": [], "gristmill run_drift": [], "Evidently + save_html": [],
           "gristmill + save_html": []}
    for i in range(args.drift_repeats):
        html = str(tmp / f"d{i}.html")
        order = [("Evidently direct", lambda: direct()), ("gristmill run_drift", lambda: ours()),
                 ("Evidently + save_html", lambda h=html: direct(h)), ("gristmill + save_html", lambda h=html: ours(h))]
        if i % 2:  # ABBA: neither side always runs first
            order = order[1::-1] + order[:1:-1]
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            res[name].append(time.perf_counter() - t0)
    assert isinstance(ref_df, pd.DataFrame)
    return [(k, statistics.median(v), min(v)) for k, v in res.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400, help="requests per case")
    p.add_argument("--kafka", action="store_true", help="start a local broker so every request is logged")
    p.add_argument("--rows", type=int, default=1000, help="reference rows for the drift benchmark")
    p.add_argument("--drift-repeats", type=int, default=6)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-drift", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_latency:
            rows = bench_latency(args, tmp)
            by = {k: (a, b) for k, a, b, _ in rows}
            print(f"\nlatency, batch 1, {args.requests} requests per case "
                  f"(InferenceLogged {'to Kafka' if args.kafka else 'off'}); server CPU ms per request "
                  "includes the log publisher process")
            print(f"{'case':34s} {'p50 ms':>8s} {'p99 ms':>8s} {'p50 vs minimal':>15s} {'CPU ms/req':>11s}")
            for name, p50, p99, cpu_ms in rows:
                base = by.get(name.split(" ")[0] + " minimal") if name.split(" ")[0] in ("REST", "gRPC") else None
                ratio = f"{p50 / base[0]:.2f}x" if base else ""
                print(f"{name:34s} {p50:8.2f} {p99:8.2f} {ratio:>15s} {cpu_ms:11.2f}")
            for proto in ("REST", "gRPC"):
                direct, routed = by[f"{proto} gristmill"][0], by[f"{proto} gristmill via gateway"][0]
                print(f"the gateway adds {routed - direct:.2f} ms at p50 to {proto} ({routed / direct:.2f}x direct)")
        if not args.skip_drift:
            rows = bench_drift(args, tmp)
            by = {k: a for k, a, _ in rows}
            print(f"\ndrift report, {args.rows} reference rows vs 500 current, 18 columns "
                  f"(median of {args.drift_repeats})")
            print(f"{'case':34s} {'median s':>9s} {'best s':>8s} {'ratio':>8s}")
            for name, med, best in rows:
                base = {"gristmill run_drift": "Evidently direct",
                        "gristmill + save_html": "Evidently + save_html"}.get(name)
                ratio = f"{med / by[base]:.2f}x" if base else ""
                print(f"{name:34s} {med:9.3f} {best:8.3f} {ratio:>8s}")


if __name__ == "__main__":
    main()
