"""The HTTP side every service has: `/metrics`, `/healthz`, `/readyz`, plus its own routes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Readiness = Callable[[], list[str]]


def operator_app(
    registry: CollectorRegistry, not_ready: Readiness, routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """A Starlette app with the operator endpoints and the service's own routes."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        problems = not_ready()
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    operator_routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=[*operator_routes, *routes])


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service runner owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the caller."""
        yield


def http_server(app: Starlette, host: str, port: int) -> HttpServer:
    """A uvicorn server for the app, logging through the root logger."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    return HttpServer(config)
