"""Local model gateway: one address for every deployed model, split by the canary weights.

In a cluster the ingress in front of an InferenceService sends `canaryTrafficPercent` of the requests
to the latest revision and the rest to the previous one. Locally each version is its own ModelServer
process, so this gateway plays that part. It answers KServe's REST paths (`/v1/models/<name>:predict`,
`/v2/models/<name>/infer`, metadata, readiness) on one port and V2 gRPC (`ModelInfer`, `ModelReady`,
`ModelMetadata`) on another, picks a READY deployment of `<name>` by its traffic share and forwards the
request. The version that answered is named in the `x-gristmill-model-version` header (REST) or
initial metadata (gRPC).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Callable

import grpc
import httpx
import uvicorn
from kserve.protocol.grpc import grpc_predict_v2_pb2 as v2
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.deployment.domain import EndpointView

log = logging.getLogger(__name__)

GATEWAY_REQUESTS = Counter("gristmill_gateway_requests_total", "Requests the local model gateway forwarded",
                           ["protocol", "model", "version", "code"])
_MODEL_PATH = re.compile(r"^/v[12]/models/([^/:]+)")
_ROUTE_TTL_S = 0.5           # a promotion or rollback reaches the gateway within this
_DROP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
_V2 = "inference.GRPCInferenceService"
_MODEL_OF = {  # V2 gRPC methods routed by model, and where their request names it
    "ModelInfer": lambda raw: v2.ModelInferRequest.FromString(raw).model_name,
    "ModelReady": lambda raw: v2.ModelReadyRequest.FromString(raw).name,
    "ModelMetadata": lambda raw: v2.ModelMetadataRequest.FromString(raw).name,
}


def pick_endpoint(endpoints: list[tuple[str, int]], rng: random.Random | None = None) -> str:
    """Choose one of (key, traffic_percent) by weight: the canary split."""
    live = [(e, w) for e, w in endpoints if w > 0]
    if not live:
        raise ValueError("no endpoint has traffic")
    r = (rng or random).uniform(0, sum(w for _, w in live))
    for e, w in live:
        r -= w
        if r <= 0:
            return e
    return live[-1][0]


Routes = Callable[[str], list[EndpointView]]   # the READY deployments of a model name (`Deployments.endpoints`)


class Gateway:
    def __init__(self, routes: Routes, rng: random.Random | None = None) -> None:
        self._routes, self._rng = routes, rng or random.Random()
        self._cache: dict[str, tuple[float, list[EndpointView]]] = {}
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=2.0))
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.app = Starlette(routes=[Route("/healthz", self._health),
                                     Route("/{path:path}", self._forward, methods=["GET", "POST"])])

    def routes(self, model_name: str, fresh: bool = False) -> list[EndpointView]:
        hit = self._cache.get(model_name)
        if fresh or hit is None or time.monotonic() - hit[0] > _ROUTE_TTL_S:
            hit = (time.monotonic(), self._routes(model_name))
            self._cache[model_name] = hit
        return hit[1]

    def pick(self, model_name: str, fresh: bool = False) -> EndpointView | None:
        """A deployment chosen by traffic share, or None when nothing serves the name."""
        live = {b.deployment_id: b for b in self.routes(model_name, fresh) if b.traffic_percent > 0}
        if not live:
            return None
        return live[pick_endpoint([(b.deployment_id, b.traffic_percent) for b in live.values()], self._rng)]

    # --- REST ------------------------------------------------------------------------------------
    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _forward(self, request: Request) -> Response:
        path = request.url.path
        m = _MODEL_PATH.match(path)
        if m is None:
            return JSONResponse({"error": f"no route for {path}; use /v1/models/<name>:predict or "
                                          f"/v2/models/<name>/infer"}, status_code=404)
        model = m.group(1)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}
        # A server retired by a promotion may still be cached: on a refused connection, re-read the routes once.
        for fresh in (False, True):
            b = self.pick(model, fresh)
            if b is None:
                GATEWAY_REQUESTS.labels("rest", model, "", "404").inc()
                return JSONResponse({"error": f"model {model!r} has no READY deployment"}, status_code=404)
            try:
                upstream = await self._client.request(request.method, b.rest.rstrip("/") + path, content=body,
                                                      headers=headers, params=request.query_params)
                break
            except httpx.ConnectError:
                if fresh:
                    GATEWAY_REQUESTS.labels("rest", model, b.model_version_id, "502").inc()
                    return JSONResponse({"error": f"model {model!r}: {b.rest} refused the connection"},
                                        status_code=502)
        GATEWAY_REQUESTS.labels("rest", model, b.model_version_id, str(upstream.status_code)).inc()
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_HEADERS | {"content-encoding"}}
        out["x-gristmill-model-version"], out["x-gristmill-deployment-id"] = b.model_version_id, b.deployment_id
        return Response(upstream.content, status_code=upstream.status_code, headers=out)

    # --- V2 gRPC (bytes in, bytes out: only the model name is read) ------------------------------------
    def grpc_handler(self) -> grpc.GenericRpcHandler:
        def routed(method: str):
            async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
                return await self._forward_grpc(method, raw, context)
            return grpc.unary_unary_rpc_method_handler(handle)

        async def live(raw: bytes, context) -> bytes:
            return v2.ServerLiveResponse(live=True).SerializeToString()

        async def ready(raw: bytes, context) -> bytes:
            return v2.ServerReadyResponse(ready=True).SerializeToString()

        async def metadata(raw: bytes, context) -> bytes:
            return v2.ServerMetadataResponse(name="gristmill-gateway").SerializeToString()

        handlers = {name: routed(name) for name in _MODEL_OF}
        handlers.update(ServerLive=grpc.unary_unary_rpc_method_handler(live),
                        ServerReady=grpc.unary_unary_rpc_method_handler(ready),
                        ServerMetadata=grpc.unary_unary_rpc_method_handler(metadata))
        return grpc.method_handlers_generic_handler(_V2, handlers)

    async def _forward_grpc(self, method: str, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            model = _MODEL_OF[method](raw)
        except Exception:  # noqa: BLE001 - not a V2 request at all
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{method}: the request is not a V2 {method}")
        md = tuple((k, v) for k, v in context.invocation_metadata() if not k.startswith(":"))
        for fresh in (False, True):
            b = self.pick(model, fresh)
            if b is None:
                GATEWAY_REQUESTS.labels("grpc", model, "", "NOT_FOUND").inc()
                await context.abort(grpc.StatusCode.NOT_FOUND, f"model {model!r} has no READY deployment")
            call = self._channel(b.grpc).unary_unary(f"/{_V2}/{method}")
            try:
                reply = await call(raw, metadata=md, timeout=context.time_remaining() or 60.0)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and not fresh:
                    continue   # a retired server may still be cached
                GATEWAY_REQUESTS.labels("grpc", model, b.model_version_id, exc.code().name).inc()
                await context.abort(exc.code(), exc.details() or "")
            GATEWAY_REQUESTS.labels("grpc", model, b.model_version_id, "OK").inc()
            await context.send_initial_metadata((("x-gristmill-model-version", b.model_version_id),
                                                 ("x-gristmill-deployment-id", b.deployment_id)))
            return reply
        raise AssertionError("unreachable: the second pass returns or aborts")

    def _channel(self, target: str) -> grpc.aio.Channel:
        target = target.removeprefix("grpc://").removeprefix("http://")
        if target not in self._channels:
            self._channels[target] = grpc.aio.insecure_channel(target)
        return self._channels[target]

    async def aclose(self) -> None:
        await self._client.aclose()
        for ch in self._channels.values():
            await ch.close()


class GatewayServer:
    """The gateway's REST (uvicorn) and gRPC (grpc.aio) servers on one event loop in a background thread."""

    def __init__(self, gateway: Gateway, host: str, port: int, grpc_port: int = 0) -> None:
        self.gateway, self.host, self.grpc_port = gateway, host, grpc_port
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(gateway.app, host=host, port=port, log_level="warning",
                                                     access_log=False, lifespan="off"))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="model-gateway", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc

    async def _main(self) -> None:
        grpc_server = None
        if self.grpc_port:
            grpc_server = grpc.aio.server()
            grpc_server.add_generic_rpc_handlers((self.gateway.grpc_handler(),))
            if grpc_server.add_insecure_port(f"{self.host}:{self.grpc_port}") != self.grpc_port:
                raise RuntimeError(f"gRPC port {self.grpc_port} is taken")
            await grpc_server.start()
        try:
            await self._server.serve()
        finally:
            if grpc_server is not None:
                await grpc_server.stop(1.0)
            await self.gateway.aclose()

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the model gateway did not start on {self.url}: {self._error!r}")
            time.sleep(0.05)
        log.info("model gateway listening", extra={"url": self.url, "grpc_port": self.grpc_port})

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
