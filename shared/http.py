"""The HTTP side every service has: `/metrics`, `/healthz`, `/readyz`, plus its own routes."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from http import HTTPStatus

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.event_loop import http_parser
from shared.http_limits import limited_protocol
from shared.settings import HttpSettings
from shared.tracing import ServerSpans, Tracing

Readiness = Callable[[], list[str]]
Endpoint = Callable[[Request], Awaitable[Response]]


OPERATOR_PATHS = ("/healthz", "/readyz", "/metrics")


class ServiceApp:
    """The operator endpoints now; the service's own routes once it is wired."""

    def __init__(
        self,
        registry: CollectorRegistry,
        not_ready: Readiness,
        limits: HttpSettings | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.app = operator_app(registry, not_ready, limits or HttpSettings())
        if tracing is not None:
            self.app.add_middleware(ServerSpans, tracing=tracing, untraced=OPERATOR_PATHS)
        self.wired = False

    def add_routes(self, routes: Sequence[BaseRoute]) -> None:
        """Serve the service's own routes from now on."""
        self.app.router.routes.extend(routes)
        self.wired = True


def http_errors(not_ready: Readiness) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The one place an HTTP error becomes an answer: `{"error": …}` with its status.

    Starlette raises HTTPException for an unknown path (404) or method (405, with `Allow`);
    endpoints raise it (or a subclass) for their refusals.
    """

    async def answer(request: Request, error: Exception) -> Response:
        if not isinstance(error, HTTPException):  # Starlette registers it for HTTPException only
            raise error
        status, detail = error.status_code, error.detail
        if status == 404 and not request.url.path.startswith(OPERATOR_PATHS) and not_ready():
            # The service's routes are not wired yet: a sender should come back, not give up.
            return JSONResponse(
                {"error": "starting; try again shortly"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if detail == HTTPStatus(status).phrase:  # Starlette's own words: say it plainly
            detail = f"method {request.method} not allowed" if status == 405 else detail.lower()
        return JSONResponse({"error": detail}, status_code=status, headers=error.headers)

    return answer


def operator_app(
    registry: CollectorRegistry, not_ready: Readiness, limits: HttpSettings
) -> Starlette:
    """A Starlette app with the operator endpoints, answering every error as JSON."""

    def for_operators(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if not limits.operator(request.client.host if request.client else None):
                raise HTTPException(
                    403, "operator endpoints answer only EVENTYARD_HTTP__OPERATOR_NETWORKS"
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

    operator_routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return json_app(operator_routes, not_ready)


def json_app(routes: Sequence[BaseRoute], not_ready: Readiness = list) -> Starlette:
    """A Starlette app whose every HTTP error is answered by `http_errors`."""
    return Starlette(
        routes=list(routes), exception_handlers={HTTPException: http_errors(not_ready)}
    )


class HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service runner owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the caller."""
        yield


def shared_port_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket with SO_REUSEPORT: several worker processes bind the same port and
    the kernel spreads new connections across them (`eventyard run SERVICE --workers N`)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


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
