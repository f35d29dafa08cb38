"""A service as a real process: health, reflection, metrics, and a graceful stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gristmill.ingestion.v1 import ingestion_pb2 as pb
from gristmill.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from services.cli.platform import ROOT
from services.common.kafka_local import free_port

pytestmark = pytest.mark.kafka


def test_ingestion_process_health_reflection_metrics_and_sigterm(tmp_path, kafka_bootstrap):
    port, metrics = free_port(), free_port()
    env = dict(os.environ, GRISTMILL_STATE_DIR=str(tmp_path), GRISTMILL_KAFKA_BOOTSTRAP=kafka_bootstrap,
               GRISTMILL_INGESTION_PORT=str(port), GRISTMILL_INGESTION_METRICS_PORT=str(metrics))
    proc = subprocess.Popen([sys.executable, "-m", "services.ingestion"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service="gristmill.ingestion.v1.IngestionService"))
        assert status.status == health_pb2.HealthCheckResponse.SERVING

        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        reply = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in reply.list_services_response.service}
        assert {"gristmill.ingestion.v1.IngestionService", "grpc.health.v1.Health"} <= names

        stub = pb_grpc.IngestionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetDataset(pb.GetDatasetRequest(dataset_id="ds-none"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10).read().decode()
        assert 'gristmill_rpc_seconds_count{code="NOT_FOUND",method="GetDataset",service="ingestion"} 1.0' in text
        channel.close()

        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - start < 30
        logs = proc.stdout.read().decode()
        assert '"msg": "shutting down"' in logs  # structured JSON logs
    finally:
        if proc.poll() is None:
            proc.kill()
