"""The FastStream kit on TestRabbitBroker: the yard's envelope out, the yard's decisions in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import aio_pika
import aiormq
import pytest
from faststream import AckPolicy
from pamqp import commands as spec
from pamqp.header import ContentHeader

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import CONTENT_TYPE, utc_now
from contracts.orders import OrderCreatedV1, OrderCrmSyncedV1
from shared import headers as h
from shared.consumer import Incoming
from shared.errors import (
    DeferredError,
    NotAcceptedError,
    PermanentError,
    PublishError,
    TransientError,
    UnroutableError,
)
from shared.faststream import (
    BrokerConfirmer,
    YardBroker,
    publish,
    yard_subscriber,
)
from shared.faststream_testing import yard_test_broker
from shared.publishing import build_event, event_message
from shared.topology import work_queue_arguments
from tests.support.events import sample_order

QUEUE = "loyalty.points"
DELAYS = (5.0, 30.0)


def tracked(order: OrderCreatedV1) -> AnalyticsTrackedV1:
    return AnalyticsTrackedV1(
        event="Loyalty Points Awarded", user_id=order.customer.id, occurred_at=utc_now()
    )


def broker_with(failure: BaseException | None, seen: list[Incoming[Any]]) -> YardBroker:
    broker = YardBroker("amqp://guest:guest@localhost/", service="loyalty", delays=DELAYS)

    @yard_subscriber(broker, QUEUE, OrderCreatedV1)
    async def award(incoming: Incoming[OrderCreatedV1]) -> None:
        seen.append(incoming)
        if failure is not None:
            raise failure
        await incoming.publish(tracked(incoming.data))

    return broker


async def test_a_handler_that_returns_is_acked_and_its_event_follows_the_incoming_one() -> None:
    seen: list[Incoming[Any]] = []
    async with yard_test_broker(broker_with(None, seen)) as yard:
        event = await publish(yard.broker, sample_order("ord_9"), correlation_id="corr-9")
    [result] = yard.results
    assert result.acked
    [outcome] = result.published
    assert outcome.type == "analytics.tracked"
    assert outcome.causationid == event.id
    assert outcome.correlationid == "corr-9"
    assert seen[0].data.order_id == "ord_9"
    assert seen[0].attempt == 1
    assert seen[0].queue == QUEUE


async def test_publish_sends_the_yards_envelope_persistent_to_events() -> None:
    async with yard_test_broker(broker_with(None, [])) as yard:
        event = await publish(yard.broker, sample_order(), subject="ord_1")
    first = yard.sent[0]
    assert (first.exchange, first.routing_key) == ("events", "order.created.v1")
    message = first.message
    assert message.content_type == CONTENT_TYPE
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == event.id
    assert message.type == "order.created.v1"
    assert yard.published()[0].subject == "ord_1"
    assert event.source == "loyalty"


async def test_a_permanent_error_parks_at_once_with_the_yards_headers() -> None:
    refused = PermanentError("the loyalty API refused the customer")
    async with yard_test_broker(broker_with(refused, [])) as yard:
        await publish(yard.broker, sample_order())
    [result] = yard.results
    assert result.parked
    assert result.reason == "permanent"
    assert result.attempts == 1
    assert result.error == "PermanentError: the loyalty API refused the customer"
    assert result.copy is not None
    assert (result.copy.exchange, result.copy.routing_key) == ("", f"{QUEUE}.parked")
    headers = result.copy.message.headers or {}
    assert headers[h.QUEUE] == QUEUE
    assert headers[h.ROUTING_KEY] == "order.created.v1"
    assert headers[h.SERVICE] == "loyalty"
    assert result.published == []


@pytest.mark.parametrize(
    "failure", [TransientError("503 from the loyalty API"), KeyError("points")]
)
async def test_a_transient_or_unexpected_error_climbs_to_the_first_rung(
    failure: BaseException,
) -> None:
    async with yard_test_broker(broker_with(failure, [])) as yard:
        await publish(yard.broker, sample_order())
    [result] = yard.results
    assert result.retried
    assert result.rung == "retry.5s"
    assert result.attempts == 1
    assert result.copy is not None
    assert result.copy.routing_key == QUEUE  # the ladder dead-letters it back to this queue
    assert result.copy.message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_the_last_rungs_failure_parks_the_message_as_exhausted() -> None:
    seen: list[Incoming[Any]] = []
    async with yard_test_broker(broker_with(TransientError("still 503"), seen)) as yard:
        tried_twice = event_message(build_event(sample_order(), source="tests"), {h.ATTEMPTS: 2})
        await yard.broker.publish(tried_twice, "order.created.v1", "events")
    [result] = yard.results
    assert seen[0].attempt == 3
    assert result.parked
    assert result.reason == "exhausted"
    assert result.attempts == 3


async def test_a_deferred_message_waits_on_the_ladder() -> None:
    until = utc_now() + timedelta(seconds=40)
    async with yard_test_broker(broker_with(DeferredError(until), [])) as yard:
        await publish(yard.broker, sample_order())
    [result] = yard.results
    assert result.outcome == "deferred"
    assert result.rung == "retry.30s"


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b"not json", "not JSON"), (b'{"specversion": "1.0"}', "the event has no `type`")],
)
async def test_an_undecodable_message_is_parked_and_the_handler_never_runs(
    body: bytes, expected: str
) -> None:
    seen: list[Incoming[Any]] = []
    async with yard_test_broker(broker_with(None, seen)) as yard:
        await yard.broker.publish(body, "order.created.v1", "events")
    [result] = yard.results
    assert seen == []
    assert result.parked
    assert result.reason == "contract"
    assert expected in (result.error or "")


async def test_an_outcome_nobody_is_bound_for_fails_the_handler_onto_the_ladder() -> None:
    async with yard_test_broker(broker_with(None, []), bound={"order.created.v1"}) as yard:
        await publish(yard.broker, sample_order())
        with pytest.raises(UnroutableError):
            await publish(yard.broker, tracked(sample_order()))
    assert yard.results[0].retried
    assert "UnroutableError" in (yard.results[0].error or "")


async def test_a_contract_only_another_producer_may_publish_is_refused() -> None:
    broker = broker_with(None, [])
    synced = OrderCrmSyncedV1(order_id="o", customer_id="c", synced_at=utc_now())
    async with yard_test_broker(broker) as yard:
        with pytest.raises(NotAcceptedError):
            await publish(yard.broker, synced)
    assert yard.sent == []
    with pytest.raises(NotAcceptedError):
        YardBroker("amqp://localhost/", service="loyalty", emits=(OrderCrmSyncedV1,))


def test_the_broker_confirms_raises_returns_bounds_prefetch_and_declares_the_topology() -> None:
    broker = broker_with(None, [])
    channel = broker.config.channel_manager._ChannelManagerImpl__default_channel
    assert (channel.publisher_confirms, channel.on_return_raises) == (True, True)
    assert channel.prefetch_count == 100
    [subscriber] = broker.subscribers
    assert subscriber.ack_policy is AckPolicy.MANUAL
    [queue] = broker.topology.queues
    assert (queue.name, queue.bindings, queue.parked) == (
        QUEUE,
        ("order.created.v1",),
        f"{QUEUE}.parked",
    )
    assert broker.topology.ladder == ("retry.5s", "retry.30s")
    assert work_queue_arguments(queue, 10)["x-dead-letter-routing-key"] == f"{QUEUE}.parked"


class FailingBroker:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def publish(self, *_: object, **__: object) -> None:
        raise self.error


def _returned() -> aiormq.exceptions.PublishError:
    returned = aiormq.abc.DeliveredMessage(
        delivery=spec.Basic.Return(routing_key="x"),
        header=ContentHeader(),
        body=b"",
        channel=cast(aiormq.abc.AbstractChannel, None),
    )
    return aiormq.exceptions.PublishError(returned, spec.Basic.Return())


@pytest.mark.parametrize(
    ("error", "raised", "text"),
    [
        (_returned(), UnroutableError, "no queue is bound"),
        (aiormq.exceptions.DeliveryError(None, spec.Basic.Nack()), PublishError, "refused"),
        (TimeoutError(), PublishError, "no confirm from the broker within 2 s"),
        (ConnectionResetError(), PublishError, "broker unavailable: ConnectionResetError"),
    ],
)
async def test_what_the_client_raises_becomes_the_yards_publish_errors(
    error: BaseException, raised: type[Exception], text: str
) -> None:
    confirmer = BrokerConfirmer(FailingBroker(error), timeout=2)  # type: ignore[arg-type]
    with pytest.raises(raised, match=text):
        await confirmer.send("events", "x.v1", aio_pika.Message(b"{}"))
