"""A worker dies (SIGKILL) or is stopped (SIGTERM) while its handlers are calling out.

publisher runs as a process against a throwaway vhost on the main broker; its destination
(a local Receiver) takes a while to answer, so each stop lands while calls are in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aio_pika.abc import AbstractConnection

from tests.faults.report import Report
from tests.faults.world import OrderWorld, fault_settings, order_world, verify_delivery
from tests.support.events import connected
from tests.support.ledger import Tally
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

EVENTS = 15


async def _in_flight(world: OrderWorld, connection: AbstractConnection) -> set[str]:
    """Publish the events, wait until the destination answers several at once: their keys."""
    await world.publish_orders(connection, "worker", EVENTS, 100.0)
    await eventually(lambda: len(world.partner.in_flight) >= 3, timeout=30)
    return {hit.idempotency_key or "" for hit in world.partner.in_flight}


@pytest.fixture
async def connection(broker_url: str) -> AsyncIterator[AbstractConnection]:
    """The test's own connection to its vhost."""
    async with connected(broker_url) as opened:
        yield opened


async def test_worker_sigkilled_mid_handler_redelivers_and_acts_once_per_key(
    broker_url: str, tmp_path: Path, connection: AbstractConnection, report: Report
) -> None:
    """SIGKILL while deliveries are in flight: they are redelivered, under the same key.

    The receiver dedupes by Idempotency-Key, as a real partner does: it acts on a key once and
    answers a repeat without acting. The side effect happens once per event however many raw
    hits arrive; the report shows raw hits against unique keys and actions.
    """
    settings = fault_settings(broker_url, tmp_path)
    async with order_world(
        settings,
        tmp_path,
        services=("publisher",),
        receiver_delay=1.0,
        partner_concurrency=5,
        dedupe=True,
    ) as world:
        # Given deliveries in flight at a deduping partner that takes 1 s per call
        cut = await _in_flight(world, connection)
        publisher = world.services["publisher"]

        # When the publisher is SIGKILLed mid-handler, then started again
        publisher.kill()
        publisher.start()
        await publisher.wait_ready()

        # Then every event is delivered, and what was cut is delivered again
        def note(counted: Tally) -> str:
            unique = len(world.partner.by_idempotency_key)
            actions = len(world.partner.actions)
            return (
                f"raw hits {counted.raw_hits}, unique idempotency keys {unique}, actions {actions}"
            )

        await verify_delivery(world, connection, report, note)
        partner = world.partner
        keys = partner.by_idempotency_key
        assert all(keys[key] >= 2 for key in cut), {key: keys[key] for key in cut}
        # And every hit carried the event id as its key: the same key on every redelivery
        assert set(keys) == world.published
        assert all(hit.webhook_id == hit.idempotency_key for hit in partner.hits)
        assert partner.verified
        # And the partner acted once per event: as many actions as events, none twice
        assert len(partner.actions) == len(world.published), partner.acted
        assert set(partner.acted) == world.published
        # And each redelivery of a cut call reached it and was answered without a new action
        replays = Counter(hit.key for hit in partner.hits if hit.replay)
        assert all(replays[key] >= 1 for key in cut), {key: replays[key] for key in cut}


@pytest.mark.parametrize(
    ("grace", "outcome"), [(10.0, "finished"), (0.3, "returned")], ids=["finished", "returned"]
)
async def test_sigterm_mid_handler_finishes_or_returns_in_flight_messages(
    broker_url: str,
    tmp_path: Path,
    connection: AbstractConnection,
    report: Report,
    grace: float,
    outcome: str,
) -> None:
    """SIGTERM with deliveries in flight: finished within the grace period, or returned.

    "finished": a grace period longer than the calls; the process exits 0 after answering
    them and nothing is sent twice. "returned": a grace period shorter than the calls; what
    was in flight goes back to the queue and is delivered again after the restart.
    """
    settings = fault_settings(broker_url, tmp_path, graceful_timeout_seconds=grace)
    async with order_world(
        settings, tmp_path, services=("publisher",), receiver_delay=1.0, partner_concurrency=5
    ) as world:
        # Given deliveries in flight at a partner that takes 1 s per call
        cut = await _in_flight(world, connection)
        publisher = world.services["publisher"]

        # When the publisher gets SIGTERM
        publisher.terminate()
        code = await publisher.wait(grace + 20)
        log = publisher.log_tail(20000)

        # Then it exits cleanly
        assert code == 0, log
        # When it is started again, every event is delivered at least once
        publisher.start()
        await publisher.wait_ready()
        await verify_delivery(world, connection, report, f"grace {grace:g} s: {outcome}")
        keys = world.partner.by_idempotency_key
        if outcome == "finished":
            # And what was in flight was finished: answered before the exit, never repeated
            assert "not finished" not in log
            assert all(keys[key] == 1 for key in cut), {key: keys[key] for key in cut}
        else:
            # And what was in flight went back to its queue and was delivered again
            assert "in-flight messages not finished" in log
            assert all(keys[key] >= 2 for key in cut), {key: keys[key] for key in cut}
