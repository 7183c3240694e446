"""The spans a service makes, named and described by OpenTelemetry's semantic conventions.

A service whose tracing is off has no `Tracing` at all (None where one would be passed), so its
hot paths pay one `is None` check and nothing else. Exceptions are never recorded as such: their
text could hold what the redactor would have hidden; callers hand over redacted text instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider, get_current_span

from shared.tracing.context import extract, inject
from shared.version import eventyard_version

RABBITMQ = "rabbitmq"
OUTCOME = "eventyard.outcome"  # retried, parked or deferred; a span without it was acked
ATTEMPT = "eventyard.attempt"
ENDPOINT = "eventyard.endpoint"
# OpenTelemetry's own names, spelled out: the semantic-conventions package is not a dependency.
SYSTEM = "messaging.system"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
DESTINATION = "messaging.destination.name"
ROUTING_KEY = "messaging.rabbitmq.destination.routing_key"
MESSAGE_ID = "messaging.message.id"
CONVERSATION_ID = "messaging.message.conversation_id"
HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_STATUS = "http.response.status_code"
URL_PATH = "url.path"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
RESEND_COUNT = "http.request.resend_count"


class Tracing:
    """One service's tracer, and the spans of each hop: publish, process, HTTP in and out."""

    def __init__(
        self, provider: TracerProvider, *, close: Callable[[], None] | None = None
    ) -> None:
        self._tracer = provider.get_tracer("eventyard", eventyard_version())
        self._close = close

    def close(self) -> None:
        """Send what is still buffered and stop (when this service built the provider)."""
        if self._close is not None:
            self._close()

    @contextmanager
    def processing(
        self, message: AbstractIncomingMessage, queue: str, attempt: int, *, door: bool
    ) -> Iterator[Span]:
        """`process <queue>`: a child of the span that published the message, if it names one.

        `door`: the queue is a way in for other systems' producers, whose tracestate stays out.
        """
        attributes: dict[str, str | int] = {
            SYSTEM: RABBITMQ,
            OPERATION_TYPE: "process",
            OPERATION_NAME: "process",
            DESTINATION: queue,
            ROUTING_KEY: message.routing_key or "",
            MESSAGE_ID: message.message_id or "",
            CONVERSATION_ID: message.correlation_id or "",
            ATTEMPT: attempt,
        }
        # No parent named: a root span, whatever the consumer's own context holds.
        parent = extract(message.headers, with_state=not door) or Context()
        with self._span(f"process {queue}", SpanKind.CONSUMER, attributes, parent) as span:
            yield span

    def publish(
        self, exchange: str, routing_key: str, message_id: str, conversation_id: str | None
    ) -> tuple[Span, dict[str, Any]]:
        """`publish <exchange>`, started: the caller ends it once confirmed. With it, the
        headers that make it the parent of every consumer's processing span."""
        destination = exchange or "amq.default"
        attributes: dict[str, str | int] = {
            SYSTEM: RABBITMQ,
            OPERATION_TYPE: "send",
            OPERATION_NAME: "publish",
            DESTINATION: destination,
            ROUTING_KEY: routing_key,
            MESSAGE_ID: message_id,
            CONVERSATION_ID: conversation_id or "",
        }
        span = self._tracer.start_span(
            f"publish {destination}", kind=SpanKind.PRODUCER, attributes=attributes
        )
        headers: dict[str, Any] = {}
        inject(headers, span.get_span_context())
        return span, headers

    def call(self, method: str, endpoint: str, host: str, port: int) -> tuple[Span, dict[str, str]]:
        """`<METHOD> <endpoint>`, an outbound call, started: the caller ends it once answered.
        With it, the W3C headers to send, so the far end's spans join the trace.

        Named after the gateway's endpoint, not the URL: webhook URLs often hold a secret.
        """
        attributes: dict[str, str | int] = {
            HTTP_METHOD: method,
            ENDPOINT: endpoint,
            SERVER_ADDRESS: host,
            SERVER_PORT: port,
        }
        span = self._tracer.start_span(
            f"{method} {endpoint}", kind=SpanKind.CLIENT, attributes=attributes
        )
        headers: dict[str, str] = {}
        inject(headers, span.get_span_context())
        return span, headers

    @contextmanager
    def serving(self, method: str, path: str, headers: Mapping[str, str]) -> Iterator[Span]:
        """`<METHOD>` (the route is added once known): a request, a child of the caller's span.

        The caller's tracestate is left out: it is an outsider's, as the whole request is.
        """
        attributes: dict[str, str | int] = {HTTP_METHOD: method, URL_PATH: path}
        parent = extract(headers, with_state=False) or Context()
        with self._span(method, SpanKind.SERVER, attributes, parent) as span:
            yield span

    @contextmanager
    def _span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, str | int],
        parent: Context | None = None,
    ) -> Iterator[Span]:
        """A current span; one an exception leaves is marked failed by its class alone."""
        with self._tracer.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except Exception as error:
                failed(span, error)
                raise


def settled(outcome: str, error_type: str | None = None, text: str = "") -> None:
    """Mark the current processing span with how its message ended, if not acked."""
    span = get_current_span()
    span.set_attribute(OUTCOME, outcome)
    if error_type is not None:
        span.set_attribute(ERROR_TYPE, error_type)
        span.set_status(Status(StatusCode.ERROR, text))


def answered(span: Span, status: int, resends: int) -> None:
    """Note an outbound call's answer, and how many times the call was sent again first."""
    span.set_attribute(HTTP_STATUS, status)
    if resends:
        span.set_attribute(RESEND_COUNT, resends)


def failed(span: Span, error: BaseException) -> None:
    """Mark a span as failed by `error`, naming only its class (its text may hold secrets)."""
    span.set_attribute(ERROR_TYPE, type(error).__name__)
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        span.set_attribute(HTTP_STATUS, status)
    span.set_status(Status(StatusCode.ERROR))
