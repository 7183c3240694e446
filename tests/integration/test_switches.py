"""Disabled-state lookups neither leak channels nor disagree between replicas and the CLI."""

from __future__ import annotations

import asyncio

import aio_pika

from services.publisher.switches import Switches, disable, enable, marker_queue, state
from shared.parking import depth
from shared.settings import Settings


async def test_lookups_on_a_robust_connection_leave_no_channels_open(settings: Settings) -> None:
    connection = await aio_pika.connect_robust(settings.broker_url.get_secret_value())
    async with connection:
        for _ in range(20):
            assert await state(connection, "partner") is None
            assert await depth(connection, "no.such.queue") is None
        await asyncio.sleep(0.5)  # time for aio-pika to reopen anything it means to reopen
        underlay = connection.transport.connection  # type: ignore[union-attr]
        assert len(underlay.channels) == 0


async def test_disable_is_seen_by_another_connection_and_enable_clears_it(
    settings: Settings,
) -> None:
    url = settings.broker_url.get_secret_value()
    async with await aio_pika.connect(url) as cli, await aio_pika.connect_robust(url) as replica:
        switches = Switches(replica)
        assert await switches.disabled("partner") is None
        await disable(cli, "partner", "HTTP 410 Gone")
        await disable(cli, "partner", "a second reason is not kept")
        found = await state(replica, "partner")
        assert found is not None
        assert found.reason == "HTTP 410 Gone"
        assert await enable(cli, "partner") is True
        assert await enable(cli, "partner") is False
        assert await state(replica, "partner") is None


async def test_enable_clears_a_note_a_replica_is_reading_at_that_moment(settings: Settings) -> None:
    url = settings.broker_url.get_secret_value()
    async with await aio_pika.connect(url) as cli, await aio_pika.connect(url) as replica:
        await disable(cli, "partner", "HTTP 410 Gone")
        # A replica's `state` holds the note unacked while it reads it
        reading = await replica.channel()
        marker = await reading.declare_queue(marker_queue("partner"), passive=True)
        held = await marker.get(no_ack=False)
        assert held is not None
        enabling = asyncio.create_task(enable(cli, "partner"))
        await asyncio.sleep(0.02)
        await reading.close()  # the note goes back to its queue, mid-enable
        assert await enabling is True
        assert await state(cli, "partner") is None
