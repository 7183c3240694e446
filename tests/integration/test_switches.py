"""Disabled-state lookups neither leak channels nor disagree between replicas and the CLI."""

from __future__ import annotations

import asyncio

import aio_pika

from services.publisher.switches import Switches, disable, enable, state
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
