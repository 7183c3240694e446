"""The FastStream example service: on TestRabbitBroker, in its AsyncAPI document, and on the
real broker climbing the ladder, parked, replayed, and then done."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import orjson
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage, AbstractQueue
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry

from examples.faststream_service.service import INTEGRATION, NAME, QUEUE, app, loyalty_broker
from shared.faststream import publish
from shared.faststream_testing import yard_test_broker
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import harness
from shared.parking import peek
from shared.redact import Redactor
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

API = "https://api.example.com"
LADDER = (0.2, 0.4)


def answering(status: int) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def loyalty_api(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"id": "pts_1"})

    return loyalty_api


async def test_points_are_awarded_and_the_outcome_published_without_a_broker() -> None:
    api = harness(answering(201), EndpointPolicy(INTEGRATION, API, max_retries=0))
    broker = loyalty_broker("amqp://guest:guest@localhost/", api.gateway)
    async with yard_test_broker(broker) as yard:
        order = await publish(yard.broker, sample_order("ord_42"))
    [result] = yard.results
    assert result.acked
    [outcome] = result.published
    assert outcome.type == "analytics.tracked"
    assert outcome.data.properties == {"order_id": "ord_42", "points": 17}
    assert outcome.causationid == order.id
    [call] = api.requests
    assert (call.method, call.url.path) == ("POST", "/points")
    assert call.headers["idempotency-key"] == order.id


async def test_a_loyalty_api_that_is_down_sends_the_order_up_the_ladder() -> None:
    api = harness(answering(503), EndpointPolicy(INTEGRATION, API, max_retries=0))
    broker = loyalty_broker("amqp://guest:guest@localhost/", api.gateway, delays=LADDER)
    async with yard_test_broker(broker) as yard:
        await publish(yard.broker, sample_order())
    [result] = yard.results
    assert result.retried
    assert result.rung == "retry.200ms"
    assert result.published == []


def test_the_asyncapi_document_names_the_contracts_it_takes_and_emits() -> None:
    api = harness(answering(201), EndpointPolicy(INTEGRATION, API))
    broker = loyalty_broker("amqp://guest:guest@localhost/", api.gateway)
    document = AsyncAPI(broker, title="loyalty").to_specification().to_jsonable()
    channels = document["channels"]
    assert f"{QUEUE}:order.created.v1" in channels
    assert "analytics.tracked.v1" in channels
    messages = document["components"]["messages"]
    assert f"{QUEUE}:order.created.v1:SubscribeMessage" in messages
    assert "analytics.tracked.v1:Message" in messages
    schemas = orjson.dumps(document["components"]["schemas"]).decode()
    assert "AnalyticsTrackedV1" in schemas
    assert app(broker).broker is broker


async def test_a_failing_call_climbs_the_ladder_is_parked_replayed_and_then_done(
    settings: Settings,
) -> None:
    # Given the loyalty API down for three calls (the attempt and both rungs), then up
    loyalty = Receiver(script=[503, 503, 503], status=200)
    url = settings.broker_url.get_secret_value()
    async with serving(loyalty), connected(url) as connection:
        policy = EndpointPolicy(
            INTEGRATION, loyalty.base, max_retries=0, allow_private_network=True
        )
        gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())
        broker = loyalty_broker(url, gateway, delays=LADDER, delivery_limit=2)
        await broker.start()
        try:
            channel = await connection.channel()
            outcomes = await channel.declare_queue("", exclusive=True)
            await outcomes.bind(EVENTS_EXCHANGE, "analytics.tracked.v1")

            # When an order is published
            order = await publish(broker, sample_order("ord_7"))

            # Then it is tried three times and parked with the yard's headers
            parked_queue = f"{QUEUE}.parked"
            await eventually(lambda: _has(connection, parked_queue), timeout=10)
            [parked] = await peek(connection, parked_queue, 1)
            assert (parked.reason, parked.attempts) == ("exhausted", 3)
            assert parked.error_type == "HttpTransientError"
            assert "503" in parked.error
            assert parked.service == "loyalty"
            assert parked.routing_key == "order.created.v1"
            assert parked.message_id == order.id

            # And the operator's `eventyard parked replay` moves it back (the integrations file
            # names the service's queue under [consumers]); the API answers, the outcome follows
            write_integrations(settings.config, {"consumers": {NAME: {"queues": {QUEUE: [
                "order.created.v1"]}}}})  # fmt: skip
            replayed = await asyncio.to_thread(eventyard, settings, "parked", "replay", QUEUE)
            assert replayed.returncode == 0, replayed.stderr
            assert "replayed 1" in replayed.stdout
            outcome = await _next(outcomes)
        finally:
            await broker.stop()
            await gateway.aclose()
    event = orjson.loads(outcome.body)
    assert event["type"] == "analytics.tracked"
    assert event["causationid"] == order.id
    assert [hit.status for hit in loyalty.hits] == [503, 503, 503, 200]
    assert loyalty.by_idempotency_key == {order.id: 4}


async def _has(connection: AbstractConnection, name: str) -> bool:
    return await queue_depth(connection, name) == 1


async def _next(queue: AbstractQueue, timeout: float = 5.0) -> AbstractIncomingMessage:
    async with asyncio.timeout(timeout):
        while (message := await queue.get(no_ack=True, fail=False)) is None:
            await asyncio.sleep(0.05)
    return message
