"""`eventyard parked …` on the real broker: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from collections import Counter

import aio_pika
from aio_pika.abc import AbstractConnection

from contracts.orders import OrderCreatedV1
from shared.consumer import Incoming, Step
from shared.errors import PermanentError
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.settings import Settings
from shared.topology import Topology, WorkQueue, declare
from tests.support.cli import eventyard
from tests.support.events import connected, emitter_for, queue_depth, sample_order
from tests.support.services import running
from tests.support.waiting import eventually

QUEUE = WorkQueue("order-followup.crm", (OrderCreatedV1.key(),), service="order-followup")
COUNT = 60


async def test_replay_moves_every_parked_message_back_exactly_once(settings: Settings) -> None:
    # Given a step that parks everything while its dependency is "down"
    down = True
    handled: Counter[str] = Counter()

    async def sync(incoming: Incoming[OrderCreatedV1]) -> None:
        if down:
            raise PermanentError("CRM rejected the order")
        handled[incoming.data.order_id] += 1

    async def wire(_: Runtime) -> Wiring:
        return Wiring(steps=[Step(QUEUE, sync, accepts=(OrderCreatedV1,))])

    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    service = ServiceDefinition("order-followup", 0, lambda _: [QUEUE], wire)
    url = settings.broker_url.get_secret_value()
    async with running(service, settings, topology), connected(url) as connection:
        publisher = await emitter_for(connection)
        await asyncio.gather(*(publisher.publish(sample_order(f"ord_{n}")) for n in range(COUNT)))
        await eventually(lambda: _depth_is(connection, QUEUE.parked, COUNT))

        # When the operator looks, tries a dry run, then replays 10, then the rest
        listed = await asyncio.to_thread(eventyard, settings, "parked", "list")
        dry = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", QUEUE.name, "--dry-run"
        )
        assert await queue_depth(connection, QUEUE.parked) == COUNT
        down = False
        first = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", QUEUE.name, "--limit", "10"
        )
        await eventually(lambda: sum(handled.values()) == 10)
        rest = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", QUEUE.parked, "--error", "CRM rejected"
        )
        await eventually(lambda: sum(handled.values()) == COUNT)
        await asyncio.sleep(0.5)
        remaining = await queue_depth(connection, QUEUE.parked)

    # Then every order was handled exactly once and nothing is left parked
    assert listed.returncode == 0, listed.stderr
    assert f"{QUEUE.parked}" in listed.stdout
    assert f" {COUNT} " in listed.stdout
    assert "PermanentError" in listed.stdout
    assert dry.returncode == 0, dry.stderr
    assert f"would replay {COUNT} of {COUNT}" in dry.stdout
    assert first.returncode == 0, first.stderr
    assert "replayed 10 of 10" in first.stdout
    assert rest.returncode == 0, rest.stderr
    assert f"replayed {COUNT - 10}" in rest.stdout
    assert handled == Counter({f"ord_{n}": 1 for n in range(COUNT)})
    assert remaining == 0


async def test_replay_of_messages_that_fail_again_ends(settings: Settings) -> None:
    # Given a step that still parks everything it gets
    attempts: Counter[str] = Counter()

    async def sync(incoming: Incoming[OrderCreatedV1]) -> None:
        attempts[incoming.data.order_id] += 1
        raise PermanentError("CRM still rejects the order")

    async def wire(_: Runtime) -> Wiring:
        return Wiring(steps=[Step(QUEUE, sync, accepts=(OrderCreatedV1,))])

    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    service = ServiceDefinition("order-followup", 0, lambda _: [QUEUE], wire)
    url = settings.broker_url.get_secret_value()
    count = 20
    async with running(service, settings, topology), connected(url) as connection:
        publisher = await emitter_for(connection)
        await asyncio.gather(*(publisher.publish(sample_order(f"ord_{n}")) for n in range(count)))
        await eventually(lambda: _depth_is(connection, QUEUE.parked, count))

        shown = await asyncio.to_thread(
            eventyard, settings, "parked", "show", QUEUE.name, "--limit", "1"
        )

        # When the operator replays them while the dependency is still down
        replayed = await asyncio.to_thread(eventyard, settings, "parked", "replay", QUEUE.name)

        # Then the replay moves each message once and ends; they are parked again, once each
        await eventually(lambda: _depth_is(connection, QUEUE.parked, count))
        await asyncio.sleep(0.5)
        assert await queue_depth(connection, QUEUE.parked) == count
    assert shown.returncode == 0, shown.stderr
    assert "routing key order.created.v1  parked by eventyard " in shown.stdout
    assert "PermanentError: CRM still rejects the order" in shown.stdout
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed {count} of {count}" in replayed.stdout
    assert attempts == Counter({f"ord_{n}": 2 for n in range(count)})


async def test_replay_filters_leave_other_messages_parked(settings: Settings) -> None:
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        await declare(await connection.channel(), topology)
        channel = await connection.channel(publisher_confirms=True)
        for n, error_type in enumerate(["TransientError", "PermanentError", "TransientError"]):
            await channel.default_exchange.publish(
                aio_pika.Message(
                    b"{}",
                    type="order.created.v1",
                    headers={"x-eventyard-error-type": error_type, "x-eventyard-reason": "x"},
                    message_id=f"m{n}",
                ),
                routing_key=QUEUE.parked,
            )
        wrong_type = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", QUEUE.name, "--type", "email.requested"
        )
        by_error = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", QUEUE.name, "--error", "permanent"
        )
        assert await queue_depth(connection, QUEUE.parked) == 2
        assert await queue_depth(connection, QUEUE.name) == 1
        purge_refused = await asyncio.to_thread(eventyard, settings, "parked", "purge", QUEUE.name)
        purged = await asyncio.to_thread(
            eventyard, settings, "parked", "purge", QUEUE.name, "--yes"
        )
        assert await queue_depth(connection, QUEUE.parked) == 0
    assert "would" not in wrong_type.stdout
    assert "replayed 0 of 3" in wrong_type.stdout
    assert "replayed 1 of 3" in by_error.stdout
    assert purge_refused.returncode == 2
    assert "--yes" in purge_refused.stderr
    assert "purged 2 messages" in purged.stdout


async def test_unknown_parked_queue_is_a_clear_error(settings: Settings) -> None:
    result = await asyncio.to_thread(eventyard, settings, "parked", "show", "no.such.queue")
    assert result.returncode == 2
    assert "no.such.queue is not one of the yard's parked queues" in result.stderr


async def _depth_is(connection: AbstractConnection, name: str, expected: int) -> bool:
    return await queue_depth(connection, name) == expected
