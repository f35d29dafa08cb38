"""Local model gateway: one REST address for every deployed model, split by the canary weights.

In a cluster the ingress in front of an InferenceService sends `canaryTrafficPercent` of the requests
to the latest revision and the rest to the previous one. Locally each version is its own ModelServer
process, so this gateway plays that part: it answers KServe's REST paths (`/v1/models/<name>:predict`,
`/v2/models/<name>/infer`, metadata, readiness) on one port, picks a READY deployment of `<name>` by
its traffic share and forwards the request. The response names the version that answered in
`x-gristmill-model-version`. gRPC is not routed: gRPC clients use `Deployment.endpoints`.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable

import httpx
import uvicorn
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.deployment.local import pick_endpoint

log = logging.getLogger(__name__)

GATEWAY_REQUESTS = Counter("gristmill_gateway_requests_total", "Requests the local model gateway forwarded",
                           ["model", "version", "code"])
_MODEL_PATH = re.compile(r"^/v[12]/models/([^/:]+)")
_ROUTE_TTL_S = 0.5           # a promotion or rollback reaches the gateway within this
_DROP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}

# (rest endpoint, traffic percent, model version id, deployment id) of each READY deployment of a name
Routes = Callable[[str], list[tuple[str, int, str, str]]]


class Gateway:
    def __init__(self, routes: Routes, rng: random.Random | None = None) -> None:
        self._routes, self._rng = routes, rng or random.Random()
        self._cache: dict[str, tuple[float, list[tuple[str, int, str, str]]]] = {}
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=2.0))
        self.app = Starlette(routes=[Route("/healthz", self._health),
                                     Route("/{path:path}", self._forward, methods=["GET", "POST"])])

    def routes(self, model_name: str, fresh: bool = False) -> list[tuple[str, int, str, str]]:
        hit = self._cache.get(model_name)
        if fresh or hit is None or time.monotonic() - hit[0] > _ROUTE_TTL_S:
            hit = (time.monotonic(), self._routes(model_name))
            self._cache[model_name] = hit
        return hit[1]

    def pick(self, model_name: str, fresh: bool = False) -> tuple[str, str, str] | None:
        """(rest endpoint, model version, deployment id) chosen by traffic share, or None when nothing serves."""
        live = [r for r in self.routes(model_name, fresh) if r[1] > 0]
        if not live:
            return None
        by_endpoint = {r[0]: r for r in live}
        chosen = by_endpoint[pick_endpoint([(r[0], r[1]) for r in live], self._rng)]
        return chosen[0], chosen[2], chosen[3]

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
            chosen = self.pick(model, fresh)
            if chosen is None:
                GATEWAY_REQUESTS.labels(model, "", "404").inc()
                return JSONResponse({"error": f"model {model!r} has no READY deployment"}, status_code=404)
            rest, version, deployment_id = chosen
            try:
                upstream = await self._client.request(request.method, rest.rstrip("/") + path, content=body,
                                                      headers=headers, params=request.query_params)
                break
            except httpx.ConnectError:
                if fresh:
                    GATEWAY_REQUESTS.labels(model, version, "502").inc()
                    return JSONResponse({"error": f"model {model!r}: {rest} refused the connection"},
                                        status_code=502)
        GATEWAY_REQUESTS.labels(model, version, str(upstream.status_code)).inc()
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_HEADERS | {"content-encoding"}}
        out["x-gristmill-model-version"], out["x-gristmill-deployment-id"] = version, deployment_id
        return Response(upstream.content, status_code=upstream.status_code, headers=out)


class GatewayServer:
    """The gateway on uvicorn in a background thread."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(gateway.app, host=host, port=port, log_level="warning",
                                                     access_log=False, lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="model-gateway", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the model gateway did not start on {self.url}")
            time.sleep(0.05)
        log.info("model gateway listening", extra={"url": self.url})

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
