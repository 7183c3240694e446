"""The consume path on the real broker: retry ladder, parking, crash guard, isolation."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import aio_pika
import orjson
import pytest

from contracts.envelope import CONTENT_TYPE
from contracts.orders import OrderCreatedV1
from shared import consumer
from shared import headers as h
from shared.config import IntegrationsFile
from shared.consumer import Handler, Incoming, Step
from shared.errors import PermanentError, PublishError, TransientError, UnroutableError
from shared.publishing import Confirmer
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.settings import Settings
from shared.topology import Topology, WorkQueue
from tests.support.events import connected, drain, emitter_for, queue_depth, sample_order
from tests.support.services import running
from tests.support.waiting import eventually

ORDER_KEY = OrderCreatedV1.key()


def single_step_service(
    queues: Sequence[WorkQueue], handlers: dict[str, Handler]
) -> ServiceDefinition:
    """A service consuming each queue with its handler."""

    async def wire(_: Runtime) -> Wiring:
        return Wiring(steps=[Step(q, handlers[q.name], accepts=(OrderCreatedV1,)) for q in queues])

    return ServiceDefinition("test-svc", 0, lambda _: queues, wire)


def topology_of(settings: Settings, *queues: WorkQueue) -> Topology:
    return Topology(queues, tuple(settings.retry.delays), settings.retry.delivery_limit)


@pytest.mark.parametrize(
    "failure",
    [TransientError("CRM answered 503"), KeyError("customer"), RuntimeError("a bug")],
    ids=["transient", "unexpected-keyerror", "unexpected-runtimeerror"],
)
async def test_transient_failure_climbs_the_ladder_then_succeeds(
    settings: Settings, failure: Exception
) -> None:
    # Given a step that fails twice (a TransientError, or an exception nobody expected), then
    # succeeds
    queue = WorkQueue("test.flaky", (ORDER_KEY,))
    attempts: list[int] = []

    async def flaky(incoming: Incoming[OrderCreatedV1]) -> None:
        attempts.append(incoming.attempt)
        if len(attempts) <= 2:
            raise failure

    topology = topology_of(settings, queue)
    service = single_step_service([queue], {queue.name: flaky})
    async with (
        running(service, settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        publisher = await emitter_for(connection)
        # When one order is published
        await publisher.publish(sample_order())
        # Then it is handled three times, attempts numbered 1, 2, 3, and nothing is parked
        await eventually(lambda: len(attempts) == 3, timeout=10)
        await asyncio.sleep(0.5)
        assert attempts == [1, 2, 3]
        assert await queue_depth(connection, queue.parked) == 0
        assert await queue_depth(connection, queue.name) == 0


async def test_exhausted_message_is_parked_with_its_history(settings: Settings) -> None:
    # Given a step that always fails with a TransientError whose text holds a secret
    queue = WorkQueue("test.down", (ORDER_KEY,))
    calls = 0

    async def down(_: Incoming[OrderCreatedV1]) -> None:
        nonlocal calls
        calls += 1
        raise TransientError("connect to https://user:hunter2@crm.example.com failed")

    topology = topology_of(settings, queue)
    service = single_step_service([queue], {queue.name: down})
    async with (
        running(service, settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        publisher = await emitter_for(connection)
        event = await publisher.publish(sample_order("ord_parked"), correlation_id="corr-1")
        # Then after 1 + len(delays) attempts it is parked, with body and properties kept
        await eventually(lambda: queue_depth(connection, queue.parked), timeout=15)
        [parked] = await drain(connection, queue.parked)
    assert calls == 1 + len(settings.retry.delays)
    assert orjson.loads(parked.body)["id"] == event.id
    assert parked.message_id == event.id
    assert parked.correlation_id == "corr-1"
    assert parked.content_type == CONTENT_TYPE
    assert parked.type == ORDER_KEY
    assert parked.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    headers = {k: str(v) for k, v in parked.headers.items()}
    assert headers[h.QUEUE] == queue.name
    assert headers[h.ROUTING_KEY] == ORDER_KEY
    assert headers[h.ATTEMPTS] == "4"
    assert headers[h.REASON] == "exhausted"
    assert headers[h.ERROR_TYPE] == "TransientError"
    assert "hunter2" not in str(headers)
    assert "crm.example.com" in headers[h.ERROR_MESSAGE]
    assert headers[h.SERVICE] == "test-svc"
    assert headers[h.FIRST_FAILURE] < headers[h.LAST_FAILURE]


async def test_permanent_error_is_parked_at_once(settings: Settings) -> None:
    queue = WorkQueue("test.permanent", (ORDER_KEY,))
    calls = 0

    async def refuse(_: Incoming[OrderCreatedV1]) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("mailbox unavailable")

    topology = topology_of(settings, queue)
    async with (
        running(single_step_service([queue], {queue.name: refuse}), settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        await (await emitter_for(connection)).publish(sample_order())
        await eventually(lambda: queue_depth(connection, queue.parked), timeout=10)
        [parked] = await drain(connection, queue.parked)
    assert calls == 1
    assert parked.headers[h.REASON] == "permanent"
    assert parked.headers[h.ATTEMPTS] == 1


@pytest.mark.parametrize(
    ("body", "message_type", "expected"),
    [
        (b"not json at all", None, "not JSON"),
        (b'{"specversion": "1.0"}', ORDER_KEY, "id: Field required"),
        (b"{}", "order.cancelled.v7", "no contract for order.cancelled.v7"),
    ],
)
async def test_contract_error_is_parked_without_retry(
    settings: Settings, body: bytes, message_type: str | None, expected: str
) -> None:
    # Given a step whose handler must never run for an invalid message
    queue = WorkQueue("test.contract", (ORDER_KEY,))
    calls = 0

    async def handler(_: Incoming[OrderCreatedV1]) -> None:
        nonlocal calls
        calls += 1

    topology = topology_of(settings, queue)
    async with (
        running(single_step_service([queue], {queue.name: handler}), settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        channel = await connection.channel(publisher_confirms=True)
        # When a producer drops something invalid straight into the queue
        await channel.default_exchange.publish(
            aio_pika.Message(
                body, type=message_type, content_type=CONTENT_TYPE, message_id="bad-1"
            ),
            routing_key=queue.name,
        )
        await eventually(lambda: queue_depth(connection, queue.parked), timeout=10)
        [parked] = await drain(connection, queue.parked)
    # Then it is parked once, with the reason, and the handler never saw it
    assert calls == 0
    assert parked.body == body
    assert parked.headers[h.REASON] == "contract"
    assert parked.headers[h.ATTEMPTS] == 1
    assert expected in str(parked.headers[h.ERROR_MESSAGE])


async def test_retry_reaches_only_its_own_queue(settings: Settings) -> None:
    # Given two steps bound to the same routing key; one fails once, the other never
    failing, healthy = WorkQueue("test.a", (ORDER_KEY,)), WorkQueue("test.b", (ORDER_KEY,))
    seen: Counter[str] = Counter()

    async def fail_once(incoming: Incoming[OrderCreatedV1]) -> None:
        seen[failing.name] += 1
        if incoming.attempt == 1:
            raise TransientError("not yet")

    async def succeed(_: Incoming[OrderCreatedV1]) -> None:
        seen[healthy.name] += 1

    topology = topology_of(settings, failing, healthy)
    service = single_step_service(
        [failing, healthy], {failing.name: fail_once, healthy.name: succeed}
    )
    async with (
        running(service, settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        publisher = await emitter_for(connection)
        for n in range(20):
            await publisher.publish(sample_order(f"ord_{n}"))
        # Then the failing step handles each order twice, the healthy one exactly once
        await eventually(lambda: seen[failing.name] == 40, timeout=15)
        await asyncio.sleep(settings.retry.delays[-1] + 0.5)
    assert seen == Counter({failing.name: 40, healthy.name: 20})


async def test_unroutable_publish_raises(settings: Settings) -> None:
    topology = topology_of(settings)
    service = single_step_service([], {})
    async with (
        running(service, settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        publisher = await emitter_for(connection)
        with pytest.raises(UnroutableError):
            await publisher.publish(sample_order())
        # Unless the caller says a missing route is fine (outcome events nobody follows yet)
        await publisher.publish(sample_order(), require_route=False)


async def test_integrations_default_is_empty() -> None:
    assert IntegrationsFile().destinations == {}


async def test_a_retry_copy_the_broker_will_not_confirm_holds_the_message(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a step that fails once, and a broker that will not confirm the first three retry
    # copies (as when the ladder's queue has lost its quorum)
    queue = WorkQueue("test.held", (ORDER_KEY,))
    seen: list[tuple[int, bool | None]] = []

    async def fails_once(incoming: Incoming[OrderCreatedV1]) -> None:
        seen.append((incoming.attempt, incoming.message.redelivered))
        if len(seen) == 1:
            raise TransientError("CRM answered 503")

    refused: list[str] = []
    send = Confirmer.send

    async def unconfirmed_at_first(
        self: Confirmer, exchange: str, routing_key: str, message: aio_pika.abc.AbstractMessage,
        **options: bool,
    ) -> None:  # fmt: skip
        if exchange.startswith("retry.") and len(refused) < 3:
            refused.append(exchange)
            raise PublishError("no confirm from the broker within 5 s")
        await send(self, exchange, routing_key, message, **options)

    monkeypatch.setattr(Confirmer, "send", unconfirmed_at_first)
    monkeypatch.setattr(consumer, "REQUEUE_PAUSE_SECONDS", 0.05)
    topology = topology_of(settings, queue)
    service = single_step_service([queue], {queue.name: fails_once})
    async with (
        running(service, settings, topology),
        connected(settings.broker_url.get_secret_value()) as connection,
    ):
        publisher = await emitter_for(connection)
        await publisher.publish(sample_order())
        # Then the message waits for its copy to be confirmed instead of going back to its
        # queue (each return would count against a delivery limit of 2), climbs the ladder
        # once the broker confirms, and is handled
        await eventually(lambda: len(seen) == 2, timeout=10)
        await asyncio.sleep(0.3)
    assert len(refused) == 3
    assert seen == [(1, False), (2, False)]
    async with connected(settings.broker_url.get_secret_value()) as connection:
        assert await queue_depth(connection, queue.parked) == 0
