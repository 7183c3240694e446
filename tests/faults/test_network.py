"""The network between the services and the broker breaks while handlers run.

publisher and order-followup reach the broker (a throwaway vhost on the main one) only through
the project's FaultProxy; the test publishes straight to the broker. Heartbeat: 2 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aio_pika.abc import AbstractConnection

from shared.parking import depth
from tests.faults.report import Report
from tests.faults.world import OrderWorld, fault_settings, order_world, verify_delivery
from tests.support.events import connected
from tests.support.proxy import FaultProxy
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

WORK_QUEUES = (
    "publisher.dest.partner",
    "order-followup.crm",
    "order-followup.warehouse",
    "order-followup.confirmation",
)
RECOVERY_BOUND = 30.0  # seconds; see the test's docstring


@pytest.fixture
async def proxy(broker_url: str) -> AsyncIterator[FaultProxy]:
    """A FaultProxy in front of the main broker."""
    started = await FaultProxy("127.0.0.1", 5672).start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def world(broker_url: str, proxy: FaultProxy, tmp_path: Path) -> AsyncIterator[OrderWorld]:
    """publisher and order-followup through the proxy; receivers that take 0.3 s per call."""
    proxied = broker_url.replace(":5672/", f":{proxy.port}/")
    settings = fault_settings(proxied, tmp_path)
    services = ("publisher", "order-followup")
    async with order_world(settings, tmp_path, services=services, receiver_delay=0.3) as running:
        yield running


async def consumers(connection: AbstractConnection) -> dict[str, int]:
    """Consumers attached to each work queue, from a passive declare on a direct connection."""
    counts = {}
    for queue in WORK_QUEUES:
        found = await depth(connection, queue)
        counts[queue] = found[1] if found else 0
    return counts


async def _within(bound: float, condition: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `condition` held; AssertionError after `bound` seconds."""
    started = time.monotonic()
    await eventually(condition, timeout=bound, every=0.1)
    return time.monotonic() - started


async def test_reset_and_blackhole_redeliver_and_consumers_return(
    broker_url: str, proxy: FaultProxy, world: OrderWorld, report: Report
) -> None:
    """A connection reset, then a silent blackhole, while deliveries are in flight: 0 lost.

    The blackhole forwards nothing and closes nothing; the broker then closes the dead
    connections itself when heartbeats stop (EVENTYARD_HEARTBEAT_SECONDS=2).

    Bounds stated (generous; heartbeat 2 s, aio-pika reconnects every 5 s): after a reset,
    every work queue has a consumer again within 30 s; during a blackhole the broker drops
    the dead connections within 30 s (heartbeats), and once the path carries traffic again
    every work queue has a consumer within 30 s.
    """
    async with connected(broker_url) as connection:
        # Given confirmed events flowing while the receivers are busy with earlier ones
        stream = asyncio.create_task(world.publish_orders(connection, "net", 100, 12.0))
        await eventually(lambda: len(world.partner.in_flight) > 0, timeout=30)

        # When every connection through the proxy is reset mid-delivery
        reconnects = proxy.accepted
        proxy.reset()

        # Then both services reconnect and every work queue has its consumer again
        async def back() -> bool:
            counts = await consumers(connection)
            return proxy.accepted >= reconnects + 2 and all(counts.values())

        after_reset = await _within(RECOVERY_BOUND, back)

        # When the path goes silent (nothing forwarded, nothing closed) with handlers running
        await eventually(lambda: len(world.partner.in_flight) > 0, timeout=30)
        proxy.blackhole()

        # Then the broker notices through missed heartbeats and drops the consumers
        async def gone() -> bool:
            return not any((await consumers(connection)).values())

        detected = await _within(RECOVERY_BOUND, gone)

        # When the path works again, the consumers come back. (The proxy accepted TCP
        # connections during the blackhole and dropped their bytes; a real dead path would
        # have failed those attempts, so they are cut when it ends.)
        reconnects = proxy.accepted
        proxy.blackhole(False)
        proxy.reset()
        after_blackhole = await _within(RECOVERY_BOUND, back)
        await asyncio.wait_for(stream, 60)

        # Then every confirmed event reached partner, CRM, warehouse and the mail queue
        note = (
            f"consumers back {after_reset:.1f} s after reset; blackhole noticed in "
            f"{detected:.1f} s, consumers back {after_blackhole:.1f} s after it lifted"
        )
        counted = await verify_delivery(world, connection, report, note)
    # And what was in flight when the connections died was delivered again (redelivered)
    assert counted.duplicates > 0
