"""A message that kills its worker again and again ends parked, not looping."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from contracts.orders import OrderCreatedV1
from shared import parking
from shared.settings import Settings
from shared.topology import Topology, WorkQueue, declare
from tests.support.cli import environment
from tests.support.events import connected, emitter_for, queue_depth, sample_order


async def test_crashing_handler_ends_parked_through_the_delivery_limit(settings: Settings) -> None:
    queue = WorkQueue("test.crashy", (OrderCreatedV1.key(),))
    topology = Topology((queue,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        await declare(await connection.channel(), topology)
        await (await emitter_for(connection)).publish(sample_order("ord_poison"))

        # When workers keep picking the message up and dying on it
        runs = 0
        while await queue_depth(connection, queue.parked) == 0:
            assert runs <= settings.retry.delivery_limit + 1, "the message is looping"
            worker = subprocess.Popen(
                [sys.executable, "-m", "tests.support.crash_worker", queue.name],
                env=environment(settings),
            )
            runs += 1
            try:
                code = await asyncio.to_thread(worker.wait, 30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
                break  # it had nothing to crash on: the broker parked the message meanwhile
            assert code == 3
            await asyncio.sleep(0.3)

        # Then the broker parked it after delivery_limit + 1 deliveries, body intact
        assert runs == settings.retry.delivery_limit + 1
        [parked] = await parking.peek(connection, queue.parked, 10)
        assert parked.reason == "delivery_limit"
        assert parked.error_type == "DeliveryLimitExceeded"
        assert parked.queue == queue.name
        assert b"ord_poison" in parked.body
        assert await queue_depth(connection, queue.name) == 0
