"""The server span of each request a service's own routes answer (the operator paths are not
traced: probes and scrapes would bury the requests that matter)."""

from __future__ import annotations

from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tracing.context import TRACEPARENT
from shared.tracing.spans import HTTP_ROUTE, HTTP_STATUS, Tracing

_TRACEPARENT = TRACEPARENT.encode("ascii")


class ServerSpans:
    """ASGI middleware: a server span around every request but the operator paths'."""

    def __init__(self, app: ASGIApp, *, tracing: Tracing, untraced: tuple[str, ...]) -> None:
        self.app = app
        self._tracing = tracing
        self._untraced = untraced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request inside its span; the span gets the route and the status."""
        if scope["type"] != "http" or scope["path"].startswith(self._untraced):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        with self._tracing.serving(method, scope["path"], caller_traceparent(scope)) as span:

            async def sent(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute(HTTP_STATUS, message["status"])
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, sent)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute(HTTP_ROUTE, route)
                    span.update_name(f"{method} {route}")


def caller_traceparent(scope: Scope) -> dict[str, str]:
    """The request's `traceparent`, if it has exactly one (W3C: several name no parent).

    Its `tracestate` is never read: a caller is an outsider, and what it put there would ride
    along to every partner we call.
    """
    values = [value for name, value in scope["headers"] if name.lower() == _TRACEPARENT]
    return {TRACEPARENT: values[0].decode("latin-1")} if len(values) == 1 else {}
