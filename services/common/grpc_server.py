"""gRPC server bootstrap: error mapping, metrics, health, reflection, graceful shutdown."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.errors import GristmillError
from services.common.metrics import RPC_SECONDS

log = logging.getLogger(__name__)


def channel_options(max_message_mb: int = 64) -> list[tuple[str, int]]:
    size = max_message_mb << 20
    return [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)]


def _abort(context: grpc.ServicerContext, exc: Exception) -> None:
    if isinstance(exc, GristmillError):
        context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
    log.exception("unhandled error")
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps domain errors to status codes and records per-method latency."""

    def __init__(self, service: str) -> None:
        self.service = service

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]

        def observe(start: float, context: grpc.ServicerContext) -> None:
            code = context.code() if hasattr(context, "code") else None
            name = code.name if isinstance(code, grpc.StatusCode) else "OK"
            RPC_SECONDS.labels(self.service, method, name).observe(time.perf_counter() - start)

        def wrap_unary(fn):
            def call(request_or_iterator, context):
                start = time.perf_counter()
                try:
                    return fn(request_or_iterator, context)
                except Exception as exc:  # noqa: BLE001 - mapped to a status below
                    if isinstance(exc, grpc.RpcError) or context.code() is not None:
                        raise
                    _abort(context, exc)
                finally:
                    observe(start, context)

            return call

        def wrap_stream(fn):
            def call(request_or_iterator, context):
                start = time.perf_counter()
                try:
                    yield from fn(request_or_iterator, context)
                except Exception as exc:  # noqa: BLE001
                    if isinstance(exc, grpc.RpcError) or context.code() is not None:
                        raise
                    _abort(context, exc)
                finally:
                    observe(start, context)

            return call

        if handler.unary_unary:
            return handler._replace(unary_unary=wrap_unary(handler.unary_unary))
        if handler.stream_unary:
            return handler._replace(stream_unary=wrap_unary(handler.stream_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=wrap_stream(handler.unary_stream))
        return handler._replace(stream_stream=wrap_stream(handler.stream_stream))


@dataclass
class Registration:
    """One servicer: `add(servicer, server)` plus the full service name from the descriptor."""

    servicer: object
    add: Callable[[object, grpc.Server], None]
    full_name: str


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    grace: float
    _on_stop: list[Callable[[], None]] = field(default_factory=list)

    def on_stop(self, fn: Callable[[], None]) -> None:
        self._on_stop.append(fn)

    def stop(self) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace=self.grace).wait()
        for fn in reversed(self._on_stop):
            try:
                fn()
            except Exception:  # noqa: BLE001 - shutdown must go on
                log.exception("error during shutdown")


def start_server(
    service: str,
    registrations: Iterable[Registration],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    grace: float = 5.0,
    max_message_mb: int = 64,
    workers: int = 16,
) -> RunningServer:
    """Start a server with health and reflection. Port 0 picks a free one (tests)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=service),
        interceptors=[ErrorInterceptor(service)],
        options=channel_options(max_message_mb),
    )
    hs = health.HealthServicer(
        experimental_non_blocking=True, experimental_thread_pool=futures.ThreadPoolExecutor(1)
    )
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    names = []
    for reg in registrations:
        reg.add(reg.servicer, server)
        names.append(reg.full_name)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"could not bind {host}:{port}")
    server.start()
    for name in (*names, ""):
        hs.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"port": bound, "services": names})
    return RunningServer(server, bound, hs, grace)


def run_until_signal(running: RunningServer) -> None:
    """Block until SIGTERM/SIGINT, then drain in-flight calls and stop."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("shutting down", extra={"grace_seconds": running.grace})
    running.stop()
