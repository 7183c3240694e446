"""The HTTP side every service has: `/metrics`, `/healthz`, `/readyz`, plus its own routes."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from shared.event_loop import http_parser
from shared.http_limits import limited_protocol
from shared.settings import HttpSettings

Readiness = Callable[[], list[str]]
Endpoint = Callable[[Request], Awaitable[Response]]


class ServiceApp:
    """The operator endpoints now; the service's own routes once it is wired."""

    def __init__(
        self, registry: CollectorRegistry, not_ready: Readiness, limits: HttpSettings | None = None
    ) -> None:
        self.app = operator_app(registry, not_ready, limits or HttpSettings())
        self._operator_routes = len(self.app.router.routes) - 1
        self.wired = False

    def add_routes(self, routes: Sequence[BaseRoute]) -> None:
        """Serve the service's own routes from now on."""
        self.app.router.routes[self._operator_routes : self._operator_routes] = list(routes)
        self.wired = True


def operator_app(
    registry: CollectorRegistry, not_ready: Readiness, limits: HttpSettings
) -> Starlette:
    """A Starlette app with the operator endpoints and a JSON answer for anything else."""

    def for_operators(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if not limits.operator(request.client.host if request.client else None):
                return JSONResponse(
                    {"error": "operator endpoints answer only EVENTYARD_HTTP__OPERATOR_NETWORKS"},
                    status_code=403,
                )
            return await endpoint(request)

        return guarded

    @for_operators
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    @for_operators
    async def readyz(_: Request) -> Response:
        problems = not_ready()
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @for_operators
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette()

    async def elsewhere(request: Request) -> Response:
        # Matches every path, so it must also say 405 where another route has this path.
        for route in app.router.routes:
            if route is not fallback and route.matches(request.scope)[0] is Match.PARTIAL:
                allowed = ", ".join(sorted(getattr(route, "methods", None) or ()))
                return JSONResponse(
                    {"error": f"method {request.method} not allowed"},
                    status_code=405,
                    headers={"Allow": allowed},
                )
        if not not_ready() or request.url.path.startswith(("/healthz", "/readyz", "/metrics")):
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(
            {"error": "starting; try again shortly"}, status_code=503, headers={"Retry-After": "5"}
        )

    every_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    fallback = Route("/{path:path}", elsewhere, methods=every_method)
    app.router.routes.extend(
        [
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            fallback,
        ]
    )
    return app


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service runner owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the caller."""
        yield


def http_server(
    app: Starlette,
    host: str,
    port: int,
    grace: float | None = None,
    limits: HttpSettings | None = None,
) -> HttpServer:
    """A uvicorn server for the app, logging through the root logger, within `limits`."""
    limits = limits or HttpSettings()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",  # no service serves WebSockets, and an upgraded connection leaves the limits
        http=limited_protocol(limits, http_parser()),
        # The protocol caps open connections at max_connections, so uvicorn's 503 (at >= this)
        # only bounds requests in flight, counting handlers still running after their client left.
        limit_concurrency=limits.max_connections + 1,
        timeout_keep_alive=limits.keep_alive_seconds,
        # Above the protocol's own limit (it feeds h11 that much of one request, plus one slice),
        # so oversized headers get its 431 rather than h11's 400.
        h11_max_incomplete_event_size=2 * limits.max_header_bytes,
        timeout_graceful_shutdown=int(grace) if grace is not None else None,
    )
    return HttpServer(config)
