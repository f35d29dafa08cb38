"""Data-half benchmark, printed side by side in one run.

1. Ingestion throughput: the ingestion service (in-process domain, and over gRPC with a chunked,
   checksummed upload) against bare `pyarrow.csv.read_csv` + `pyarrow.parquet.write_table` on the
   same CSV bytes. Goal: >= 0.7 of the bare rate.
2. Normalization throughput: `bench/normalize.py` (FittedTransform vs a bare numpy pass).
3. Event round trip through the broker: outbox publish -> Kafka -> consumer handler, p50 and p99.

Run: .venv/bin/python bench/data_half.py [--rows N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gristmill.events.v1 import events_pb2 as ev  # noqa: E402
from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc  # noqa: E402
from services.common.bus import Consumer, Publisher, new_meta  # noqa: E402
from services.common.grpc_server import channel_options  # noqa: E402
from services.common.kafka_local import LocalKafka, free_port  # noqa: E402
from services.common.store import Store  # noqa: E402
from services.ingestion import client  # noqa: E402
from services.ingestion.config import IngestionSettings  # noqa: E402
from services.ingestion.server import build  # noqa: E402


def make_csv(rows: int) -> bytes:
    rng = np.random.default_rng(0)
    cols = {f"f{i}": rng.normal(size=rows).round(6) for i in range(8)}
    cols["cat"] = rng.choice(["a", "b", "c"], rows)
    cols["label"] = rng.integers(0, 2, rows)
    buf = io.StringIO()
    buf.write(",".join(cols) + "\n")
    np.savetxt(buf, np.column_stack([cols[c] for c in cols]), fmt="%s", delimiter=",")
    return buf.getvalue().encode()


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_ingestion(data: bytes, bootstrap: str, tmp: Path) -> list[tuple[str, float]]:
    mb = len(data) / 2**20

    def bare():
        table = pacsv.read_csv(io.BytesIO(data))
        pq.write_table(table, tmp / "bare.parquet", compression="zstd")

    settings = IngestionSettings(service="ingestion", state_dir=tmp / "svc", port=0, metrics_port=0,
                                 kafka_bootstrap=bootstrap, max_upload_mb=4096)
    running, domain = build(settings)
    ch = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=channel_options())
    stub = pb_grpc.IngestionServiceStub(ch)
    counter = iter(range(10**6))

    def fresh_dataset() -> str:  # a new dataset each round, so nothing deduplicates
        return domain.create_dataset("bench", f"d{next(counter)}").dataset_id

    def in_process():
        domain.ingest_bytes(fresh_dataset(), data, "csv", filename="b.csv")

    def over_grpc():
        client.upload(stub, fresh_dataset(), data, filename="b.csv", chunk=4 << 20)

    try:
        t_bare, t_dom, t_grpc = best_of(bare), best_of(in_process), best_of(over_grpc)
    finally:
        ch.close()
        running.stop()
    return [("bare read_csv+write_parquet", mb / t_bare), ("ingestion domain (in-process)", mb / t_dom),
            ("ingestion over gRPC upload", mb / t_grpc)]


def bench_events(bootstrap: str, tmp: Path, n: int = 300) -> tuple[float, float]:
    store = Store(f"sqlite:///{tmp}/events.db")
    publisher = Publisher(store, bootstrap, "bench")
    received: dict[str, float] = {}
    done = threading.Event()

    def handle(e, _session):
        received[e.meta.event_id] = time.perf_counter()
        if len(received) >= n:
            done.set()

    consumer = Consumer(store, bootstrap, f"bench-{time.time_ns()}", {ev.ModelDegraded: handle})
    consumer.start()
    time.sleep(3)  # let the group settle before timing
    sent: dict[str, float] = {}
    for i in range(n):
        e = ev.ModelDegraded(meta=new_meta("bench", "bench"), metric="x", value=i)
        sent[e.meta.event_id] = time.perf_counter()
        with store.session() as s:
            publisher.stage(s, e)
        publisher.flush()
        time.sleep(0.005)
    done.wait(60)
    consumer.stop()
    publisher.close()
    lat = sorted((received[k] - sent[k]) * 1000 for k in sent if k in received)
    return statistics.median(lat), lat[max(0, int(len(lat) * 0.99) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = LocalKafka(tmp / "kafka", port=free_port(), controller_port=free_port())
        bootstrap = broker.start()
        try:
            data = make_csv(args.rows)
            print(f"== ingestion: {args.rows} rows, {len(data) / 2**20:.1f} MiB CSV (best of 3)")
            results = bench_ingestion(data, bootstrap, tmp)
            bare = results[0][1]
            for name, rate in results:
                print(f"  {name:34s} {rate:8.1f} MiB/s   ratio {rate / bare:5.2f}")
            print("== event round trip (outbox -> Kafka -> consumer handler)")
            p50, p99 = bench_events(bootstrap, tmp)
            print(f"  p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
        finally:
            broker.stop()
    norm = ROOT / "bench" / "normalize.py"
    if norm.exists():
        print("== normalization")
        subprocess.run([sys.executable, str(norm)], check=False)


if __name__ == "__main__":
    main()
