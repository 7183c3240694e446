"""Spans of each hop, kept by the SDK's in-memory exporter: publish, process, call out, serve.

The whole path through the real services and broker is in tests/integration/test_tracing.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, cast

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import shared.tracing
from services.intake.app import QUEUE as INTAKE_QUEUE
from services.intake.routing import NoRouteError, Parker
from services.publisher.delivery import Deliverer, Destination
from services.publisher.metrics import PublisherMetrics
from services.publisher.switches import Switches
from shared.config import DestinationConfig
from shared.errors import ConfigError
from shared.gateway import policy_for_destination
from shared.gateway.testing import harness
from shared.http import ServiceApp
from shared.publishing import Confirmer, build_event, event_message
from shared.redact import Redactor
from shared.settings import TracingSettings
from shared.testing import HandlerKit, HandlerResult, MemoryBroker, Sent
from shared.tracing import start_tracing
from tests.support.events import sample_order
from tests.support.tracing import Spans, context_of, named_by, parent_of

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
QUEUE = "publisher.dest.partner"
PARTNER = DestinationConfig.model_validate(
    {"url": "https://api.example.com/hooks", "events": ["order.*.v1"], "secrets": ["S"]}
)


class Enabled:
    """Switches with every destination enabled."""

    async def disabled(self, _: str) -> None:
        return None


async def deliver(
    spans: Spans, status: int, headers: dict[str, Any]
) -> tuple[HandlerResult, list[httpx.Request], list[Sent]]:
    """One delivery to a partner answering `status`, by the publisher's real handler, traced:
    what came of it, the requests the partner saw, and the events published."""
    tracing = spans.tracing("publisher")
    kit = HandlerKit(service="publisher", tracing=tracing)

    async def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    partner = harness(answer, policy_for_destination("partner", PARTNER), tracing=tracing)
    deliverer = Deliverer(
        Destination("partner", PARTNER, ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",)),
        gateway=partner.gateway,
        switches=cast(Switches, Enabled()),
        metrics=PublisherMetrics(kit.metrics.registry),
        redactor=kit.redactor,
        ladder_length=len(kit.topology.delays),
    )
    message = event_message(build_event(sample_order(), source="tests"), headers)
    try:
        result = await kit.run(deliverer, message, queue=QUEUE)
    finally:
        await partner.gateway.aclose()
    return result, partner.requests, kit.broker.published()


async def test_a_delivery_is_processed_called_and_reported_in_its_senders_trace() -> None:
    spans = Spans()
    result, [post], [sent] = await deliver(spans, 200, {"traceparent": CALLER})
    assert result.acked
    process = spans.one(f"process {QUEUE}")
    call = spans.one("POST partner")
    outcome = spans.one("publish events")
    # The processing span continues the sender's trace, as the child of its span.
    assert context_of(process).trace_id == TRACE_ID
    assert parent_of(process) == SPAN_ID
    assert process.kind is SpanKind.CONSUMER
    assert (process.attributes or {}).items() >= {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": QUEUE,
        "messaging.message.id": post.headers["webhook-id"],  # the event id
        "eventyard.attempt": 1,
    }.items()
    # The partner is told the trace: its parent is the call's span.
    assert call.kind is SpanKind.CLIENT
    assert parent_of(call) == context_of(process).span_id
    assert named_by(post.headers["traceparent"]).span_id == context_of(call).span_id
    assert named_by(post.headers["traceparent"]).trace_id == TRACE_ID
    assert (call.attributes or {})["http.response.status_code"] == 200
    # The outcome event carries the trace on to whoever consumes it.
    [report] = result.published
    assert report.type == "delivery.succeeded"
    assert parent_of(outcome) == context_of(process).span_id
    assert outcome.kind is SpanKind.PRODUCER
    assert (outcome.attributes or {})["messaging.rabbitmq.destination.routing_key"] == (
        "delivery.succeeded.v1"
    )
    assert (outcome.attributes or {})["messaging.message.id"] == report.id
    assert named_by(sent.message.headers["traceparent"]).span_id == context_of(outcome).span_id


async def test_an_event_published_outside_any_span_starts_a_trace() -> None:
    spans = Spans()
    tracing = spans.tracing("publisher")
    kit = HandlerKit(service="publisher", tracing=tracing)
    await kit.emitter.publish(sample_order())
    [sent] = kit.broker.published()
    [publish] = spans.named("publish events")
    assert parent_of(publish) is None  # health's announcements, say
    assert named_by(sent.message.headers["traceparent"]).span_id == context_of(publish).span_id


async def test_a_failed_attempt_is_marked_and_its_retry_keeps_the_senders_context() -> None:
    spans = Spans()
    result, _, _ = await deliver(spans, 503, {"traceparent": CALLER})
    assert result.retried
    assert result.copy is not None
    # The retry is processed next as another child of the sender's span, not of this attempt.
    assert result.copy.message.headers["traceparent"] == CALLER
    process = spans.one(f"process {QUEUE}")
    assert process.status.status_code is StatusCode.ERROR
    assert (process.attributes or {})["eventyard.outcome"] == "retried"
    assert (process.attributes or {})["error.type"] == "HttpTransientError"
    call = spans.one("POST partner")
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["http.response.status_code"] == 503
    # No exception text rides along: it could hold what the redactor hides.
    assert all(not span.events for span in spans.finished)


async def test_a_message_naming_no_parent_starts_a_trace_of_its_own() -> None:
    spans = Spans()
    result, [post], _ = await deliver(spans, 200, {"traceparent": "00-garbage"})
    assert result.acked
    process = spans.one(f"process {QUEUE}")
    assert parent_of(process) is None
    assert named_by(post.headers["traceparent"]).trace_id == context_of(process).trace_id


# --- the server span --------------------------------------------------------------------------


async def served(
    spans: Spans, path: str, headers: list[tuple[str, str]], method: str = "POST"
) -> int:
    async def webhook(_: Request) -> PlainTextResponse:
        return PlainTextResponse("stored", status_code=202)

    http = ServiceApp(CollectorRegistry(), list, tracing=spans.tracing("intake"))
    http.add_routes([Route("/webhooks/{source}", webhook, methods=["POST"])])
    transport = httpx.ASGITransport(app=http.app, client=("127.0.0.1", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        return (await client.request(method, path, headers=headers)).status_code


async def test_a_request_is_served_in_its_callers_trace() -> None:
    spans = Spans()
    state = ("tracestate", "evil=smuggled")
    assert await served(spans, "/webhooks/shop", [("traceparent", CALLER), state]) == 202
    [span] = spans.finished
    assert span.name == "POST /webhooks/{source}"
    assert span.kind is SpanKind.SERVER
    assert (context_of(span).trace_id, parent_of(span)) == (TRACE_ID, SPAN_ID)
    assert (span.attributes or {}).items() >= {
        "http.request.method": "POST",
        "http.route": "/webhooks/{source}",
        "url.path": "/webhooks/shop",
        "http.response.status_code": 202,
    }.items()
    assert not context_of(span).trace_state  # an outsider's tracestate goes no further


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("traceparent", "00-nonsense-01")], id="malformed"),
        pytest.param([("traceparent", CALLER), ("traceparent", CALLER)], id="repeated"),
        pytest.param([("traceparent", CALLER.replace("-01", "-01" + "0" * 600))], id="oversized"),
    ],
)
async def test_a_request_naming_no_valid_parent_is_answered_in_a_trace_of_its_own(
    headers: list[tuple[str, str]],
) -> None:
    spans = Spans()
    assert await served(spans, "/webhooks/shop", headers) == 202
    [span] = spans.finished
    assert parent_of(span) is None


async def test_the_operator_endpoints_are_not_traced() -> None:
    spans = Spans()
    for path in ("/metrics", "/healthz", "/readyz"):
        assert await served(spans, path, [("traceparent", CALLER)], method="GET") == 200
    assert spans.finished == ()


# --- switched on once, at the start -----------------------------------------------------------


def test_off_by_default_where_not_even_the_sdk_is_imported() -> None:
    code = (
        "import sys\n"
        "import cli.main, services.yard, shared.service\n"
        "from shared.settings import Settings\n"
        "from shared.tracing import start_tracing\n"
        "assert start_tracing(Settings().tracing, 'publisher') is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.strip() == "[]"


def test_on_without_the_sdk_is_refused_at_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if the `tracing` extra were not installed: the SDK cannot be imported.
    monkeypatch.delitem(sys.modules, "shared.tracing.sdk", raising=False)
    monkeypatch.delattr(shared.tracing, "sdk", raising=False)
    for name in [m for m in sys.modules if m.startswith("opentelemetry.sdk")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    with pytest.raises(ConfigError) as refused:
        start_tracing(TracingSettings(enabled=True), "publisher")
    message = str(refused.value)
    assert "\n" not in message
    assert "EVENTYARD_TRACING__ENABLED" in message
    assert "pip install 'eventyard[tracing]'" in message


def test_on_with_the_sdk_exports_over_otlp_until_closed() -> None:
    settings = TracingSettings(enabled=True, otlp_endpoint="http://127.0.0.1:4318/v1/traces")
    tracing = start_tracing(settings, "publisher")
    assert tracing is not None
    tracing.close()  # nothing was recorded, so nothing is sent


async def test_a_webhook_parked_at_intake_stays_in_its_requests_trace() -> None:
    spans = Spans()
    broker = MemoryBroker()
    parker = Parker(cast(Confirmer, broker), INTAKE_QUEUE, Redactor())
    tracing = spans.tracing("intake")
    with tracing.serving("POST", "/webhooks/shop", {"traceparent": CALLER}) as request:
        await parker.park(build_event(sample_order(), source="tests"), NoRouteError("no route"))
    [parked] = broker.sent
    # Replayed, it is processed as a child of the request that brought it.
    named = named_by((parked.message.headers or {})["traceparent"])
    assert named.span_id == request.get_span_context().span_id
