"""Comparison 2: the eventyard publish API vs raw aio-pika pipelined confirmed publish.

Both publish the same `order.created.v1` event to `events` (bound to one quorum queue), persistent,
mandatory and confirmed, from `concurrency` tasks sharing one confirm channel, so confirms are
pipelined the same way. eventyard builds and validates a fresh envelope per publish (the caller's
contract object is built once, as a caller would); raw sends pre-serialised bytes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractConnection, DeliveryMode, ExchangeType

from bench.core import (
    BenchConfig,
    Measurement,
    Section,
    interleave,
    ratio_target,
    rows_from,
)
from bench.infra import OrderEvents, bench_metrics, declare, purge
from contracts.envelope import CONTENT_TYPE
from shared.broker import publish_channel
from shared.publishing import Confirmer, Emitter
from shared.topology import EVENTS_EXCHANGE
from tests.support.events import sample_order

SINK = "bench.publish.sink"
PUBLISH_ROUNDS = 5  # rounds are cheap, and a burst of outside load hits one contestant at a time


async def prepare(connection: AbstractConnection, key: str) -> None:
    """`events` and a quorum queue bound to the key, so every publish is routed and stored."""
    async with connection.channel() as channel:
        events = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            SINK, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(events, key)
    await declare(connection, SINK, {"x-queue-type": "quorum"})


async def spread(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `one(i)` for i < count from `concurrency` tasks; the rate in msg/s."""
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def eventyard_round(connection: AbstractConnection, count: int, concurrency: int) -> float:
    """`Emitter.publish` from `concurrency` tasks."""
    channel = await publish_channel(connection)
    try:
        emitter = Emitter(Confirmer(channel, timeout=30), source="bench", metrics=bench_metrics())
        order = sample_order("ord_bench")

        async def one(_: int) -> None:
            await emitter.publish(order)

        return await spread(count, concurrency, one)
    finally:
        await channel.close()


async def raw_round(
    connection: AbstractConnection, events: OrderEvents, count: int, concurrency: int
) -> float:
    """`exchange.publish` of pre-serialised bytes from `concurrency` tasks."""
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)

        async def one(_: int) -> None:
            event_id = str(uuid.uuid4())
            message = aio_pika.Message(
                events.body,
                content_type=CONTENT_TYPE,
                delivery_mode=DeliveryMode.PERSISTENT,
                message_id=event_id,
                correlation_id=event_id,
                type=events.key,
            )
            await exchange.publish(message, events.key, mandatory=True)

        return await spread(count, concurrency, one)
    finally:
        await channel.close()


async def publish(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Interleaved rounds of both; the sink is emptied after each."""
    events = OrderEvents()
    await prepare(connection, events.key)
    count, concurrency = config.messages, config.concurrency

    def measured(run: Callable[[], Awaitable[float]]) -> Callable[[], Awaitable[Measurement]]:
        async def round_() -> Measurement:
            rate = await run()
            await purge(connection, SINK)
            return {"rate": rate}

        return round_

    results = await interleave(
        config.rounds if config.quick else max(config.rounds, PUBLISH_ROUNDS),
        {
            "raw aio-pika": measured(lambda: raw_round(connection, events, count, concurrency)),
            "eventyard": measured(lambda: eventyard_round(connection, count, concurrency)),
        },
    )
    section = Section(2, "publish", "Publish")
    section.rows = rows_from(results, "rate", baseline="raw aio-pika", label="msg/s")
    ratio = section.ratio_of("eventyard", "raw aio-pika", "msg/s")
    section.targets = [
        ratio_target("eventyard >= 90% of raw pipelined confirmed publish", ratio, 0.9)
    ]
    section.notes.append(
        f"{count:,} persistent, mandatory, confirmed publishes per round from {concurrency} "
        "tasks on one confirm channel, into a quorum queue; the publisher runs in the bench "
        "process"
    )
    return section
