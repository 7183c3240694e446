"""One trace through every hop, with the real services and broker, spans kept in memory.

intake and publisher run in this process (as `eventyard run` would run them, each with its own
tracer), so the SDK's in-memory exporter sees the spans of both; a local receiver stands in for
the partner and records the `traceparent` it is sent.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aio_pika
import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from services.intake.app import DEFINITION as INTAKE
from services.intake.app import QUEUE as INTAKE_QUEUE
from services.publisher.app import DEFINITION as PUBLISHER
from services.yard import build_topology
from shared.config import IntegrationsFile
from shared.settings import Settings
from tests.support import signing
from tests.support.events import connected, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.services import running
from tests.support.tracing import Spans, context_of, named_by, parent_of
from tests.support.waiting import eventually

SHOP = "whsec_" + base64.b64encode(b"shop-tracing-secret-0123").decode()
PARTNER = "whsec_" + base64.b64encode(b"partner-tracing-secret-01").decode()
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
CALLER_SPAN = 0xB7AD6B7169203331
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
DESTINATION = "publisher.dest.partner"


@dataclass
class Yard:
    """intake and publisher running, traced into `spans`; the partner is `receiver`."""

    intake: str
    spans: Spans
    receiver: Receiver
    connection: aio_pika.abc.AbstractConnection

    def outcome(self, key: str) -> list[ReadableSpan]:
        """The publish spans of outcome events with this routing key."""
        return [
            span
            for span in self.spans.named("publish events")
            if (span.attributes or {}).get("messaging.rabbitmq.destination.routing_key") == key
        ]


@asynccontextmanager
async def yard(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> AsyncIterator[Yard]:
    monkeypatch.setenv("SHOP_SECRET", SHOP)
    monkeypatch.setenv("PARTNER_SECRET", PARTNER)
    spans = Spans()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(receiver))
        integrations = IntegrationsFile.model_validate(
            {
                "sources": {
                    "shop": {
                        "scheme": "standard-webhooks",
                        "secrets": ["SHOP_SECRET"],
                        "map": {"order.paid": "order.created.v1"},
                    }
                },
                "destinations": {
                    "partner": {
                        "url": receiver.url,
                        "events": ["order.*.v1"],
                        "secrets": ["PARTNER_SECRET"],
                        "allow_private_network": True,
                        "timeout_seconds": 5,
                    }
                },
            }
        )
        topology = build_topology(settings, integrations)
        for definition in (PUBLISHER, INTAKE):
            base = await stack.enter_async_context(
                running(
                    definition, settings, topology, integrations, spans.tracing(definition.name)
                )
            )
        url = settings.broker_url.get_secret_value()
        connection = await stack.enter_async_context(connected(url))
        yield Yard(base, spans, receiver, connection)


async def test_one_trace_from_the_webhook_to_the_delivery_outcome(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with yard(settings, monkeypatch, Receiver(PARTNER)) as running_yard:
        body = orjson.dumps(
            {"type": "order.paid", "data": sample_order("ord_traced").model_dump(mode="json")}
        )
        headers = {**signing.standard_webhooks(SHOP, body), "traceparent": CALLER}
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(f"{running_yard.intake}/webhooks/shop", content=body,
                                       headers=headers)  # fmt: skip
        assert answer.status_code == 202, answer.text
        await eventually(lambda: running_yard.outcome("delivery.succeeded.v1"), timeout=20)
    spans = running_yard.spans
    served = spans.one("POST /webhooks/{source}")
    published = spans.one("publish events", **{"messaging.message.id": answer.json()["event_id"]})
    processed = spans.one(f"process {DESTINATION}")
    called = spans.one("POST partner")
    [reported] = running_yard.outcome("delivery.succeeded.v1")
    [hit] = running_yard.receiver.hits
    sent = named_by(hit.headers.get("traceparent"))

    # Every hop is in the caller's trace, each the child of the one before.
    hops = [served, published, processed, called, reported]
    assert {context_of(span).trace_id for span in hops} == {TRACE_ID}
    assert sent.trace_id == TRACE_ID
    assert parent_of(served) == CALLER_SPAN
    assert parent_of(published) == context_of(served).span_id
    assert parent_of(processed) == context_of(published).span_id
    assert parent_of(called) == context_of(processed).span_id
    assert sent.span_id == context_of(called).span_id  # the partner's spans join below the call
    assert parent_of(reported) == context_of(processed).span_id
    # Each hop is told by the service that made it.
    services = [span.resource.attributes["service.name"] for span in hops]
    assert services == ["intake", "intake", "publisher", "publisher", "publisher"]
    assert (published.attributes or {})["messaging.rabbitmq.destination.routing_key"] == (
        "order.created.v1"
    )
    # The attempts both reported (flushed as they stopped) are bookkeeping, not a hop
    keys = {(s.attributes or {}).get("messaging.rabbitmq.destination.routing_key")
            for s in spans.finished}  # fmt: skip
    assert "attempts.recorded.v1" not in keys


async def test_a_dropped_messages_trace_survives_the_retry_ladder_and_leaves_its_state_behind(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The partner fails once: the delivery waits on the ladder and is made again.
    async with yard(settings, monkeypatch, Receiver(PARTNER, script=[503])) as running_yard:
        message = aio_pika.Message(
            sample_order("ord_dropped").model_dump_json().encode(),
            type="order.created.v1",
            content_type="application/json",
            headers={"traceparent": CALLER, "tracestate": "producer=secret-ish"},
        )
        channel = await running_yard.connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(message, routing_key=INTAKE_QUEUE.name)
        await eventually(lambda: running_yard.outcome("delivery.succeeded.v1"), timeout=20)
    spans = running_yard.spans
    dropped = spans.one(f"process {INTAKE_QUEUE.name}")
    attempts = spans.named(f"process {DESTINATION}")
    published = spans.one("publish events", **{"messaging.rabbitmq.destination.routing_key":
                                               "order.created.v1"})  # fmt: skip
    assert parent_of(dropped) == CALLER_SPAN
    assert parent_of(published) == context_of(dropped).span_id
    # Both attempts are children of the publish: the retry kept the original context.
    assert [(span.attributes or {})["eventyard.attempt"] for span in attempts] == [1, 2]
    assert {parent_of(span) for span in attempts} == {context_of(published).span_id}
    assert (attempts[0].attributes or {})["eventyard.outcome"] == "retried"
    hits = running_yard.receiver.hits
    assert [hit.status for hit in hits] == [503, 200]
    assert {named_by(hit.headers.get("traceparent")).trace_id for hit in hits} == {TRACE_ID}
    # The producer's tracestate stayed at the door: no partner is sent it.
    assert all("tracestate" not in hit.headers for hit in hits)
    assert all(not context_of(span).trace_state for span in spans.finished)
