"""A single broker node dies (SIGKILL) or restarts (SIGTERM) mid-stream: nothing accepted is lost.

The services run as processes against a throwaway node of this module's own (never the main
broker), each case on a vhost of its own; the node is killed and restarted on the same data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.faults.report import Report
from tests.faults.world import OrderWorld, fault_settings, order_world, verify_delivery
from tests.support.events import connected
from tests.support.processes import readyz
from tests.support.rabbit import RabbitNode, node_vhost, rabbit_node
from tests.support.waiting import eventually

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="module")]

STREAM = 150  # webhooks per case
RATE = 25.0  # per second: the stream lasts about 6 s, the fault lands in its middle


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def node(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RabbitNode]:
    """A throwaway node for this module; stopped (by pid) at the end even if a case failed."""
    async with rabbit_node(tmp_path_factory.mktemp("node")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def world(node: RabbitNode, tmp_path: Path) -> AsyncIterator[OrderWorld]:
    """intake, publisher and order-followup connected straight to the node, on a fresh vhost."""
    await node.start()  # a case that failed mid-outage may have left it down
    async with node_vhost([node]) as vhost:
        settings = fault_settings(node.url(vhost), tmp_path)
        async with order_world(settings, tmp_path) as running:
            yield running


async def _until_accepted(world: OrderWorld, count: int) -> None:
    await eventually(lambda: len(world.sender.accepted) >= count, timeout=30, every=0.05)


async def test_broker_sigkill_mid_stream_loses_nothing(
    node: RabbitNode, world: OrderWorld, report: Report
) -> None:
    """Every webhook intake answered 202 reaches all its destinations after a broker crash.

    Senders retry 503s (as real webhook senders do), so all of them are accepted in the end.
    """
    # Given a stream of signed order webhooks flowing through intake, publisher, order-followup
    stream = asyncio.create_task(world.sender.stream("kill", STREAM, RATE))
    await _until_accepted(world, STREAM // 4)

    # When the broker is SIGKILLed mid-stream, and started again on the same data
    await node.kill()
    await asyncio.sleep(1.0)
    await node.start()
    await asyncio.wait_for(stream, 120)

    # Then every accepted webhook is delivered at least once to each of its destinations
    refused = world.sender.answers["503"] + world.sender.answers["error"]
    assert world.sender.refused == {}, "a webhook was refused with something other than 503"
    assert len(world.sender.accepted) == STREAM
    # And the crash was felt: some sends were answered 503 (or cut) and retried
    assert refused > 0
    async with connected(world.settings.broker_url.get_secret_value()) as connection:
        note = f"{refused} sends answered 503 or cut during the outage, then retried"
        await verify_delivery(world, connection, report, note)


async def test_graceful_broker_restart_loses_nothing_and_readiness_recovers(
    node: RabbitNode, world: OrderWorld, report: Report
) -> None:
    """A clean broker restart: 0 lost, and the same service processes become ready again.

    Bound stated: /readyz is 200 again within 30 s of the broker answering (aio-pika's robust
    connection retries every 5 s).
    """
    pids = {name: process.pid for name, process in world.services.items()}
    # Given a stream of signed order webhooks
    stream = asyncio.create_task(world.sender.stream("restart", STREAM, RATE))
    await _until_accepted(world, STREAM // 4)

    # When the broker shuts down cleanly (SIGTERM) mid-stream
    await node.stop()
    # Then the services say they are not ready while it is away
    during = {name: await readyz(p.url) for name, p in world.services.items()}
    # When it starts again
    await node.start()

    # Then every service is ready again without being restarted
    async def all_ready() -> bool:
        return all([await readyz(p.url) == 200 for p in world.services.values()])

    await eventually(all_ready, timeout=30, every=0.2)
    assert {name: p.pid for name, p in world.services.items()} == pids
    assert all(p.alive for p in world.services.values())
    assert all(status == 503 for status in during.values()), during

    # And every accepted webhook is delivered at least once to each destination
    await asyncio.wait_for(stream, 120)
    assert world.sender.refused == {}
    assert len(world.sender.accepted) == STREAM
    async with connected(world.settings.broker_url.get_secret_value()) as connection:
        await verify_delivery(world, connection, report, "same service processes throughout")
