"""A destination down for a compressed "24 hours": the ladder, parking, then replay.

The production ladder (5 s ... 10 h, ten rungs, ~28.7 h) is compressed to ten rungs summing to
about 5 s. What is not compressed is the gateway's circuit breaker: it opens after 5 failed
calls and probes again only after 30 s, so later attempts fail fast at the breaker (each still
climbs the ladder and is reported as a `delivery.failed.v1`), and the replay waits until the
breaker is willing to probe, as it would be long before an operator replays in production.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shared import parking
from shared.settings import RetrySettings
from tests.faults.report import Report
from tests.faults.world import fault_settings, order_world
from tests.support.cli import eventyard
from tests.support.events import connected, drain, queue_depth
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

LADDER = [0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2]
SLACK = 2.5  # seconds a rung may take beyond its delay (publish, expiry, redelivery, HTTP)
BREAKER_OPEN = 3.0  # the partner's breaker stays open this long before a half-open probe
BREAKER_BOUND = BREAKER_OPEN + 10.0  # the open period, and some


async def _breaker(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as client:
        rows = (await client.get(f"{url}/destinations")).json()["destinations"]
    return str(rows[0]["breaker"])


async def test_destination_down_climbs_the_ladder_parks_and_replays(
    broker_url: str, tmp_path: Path, report: Report
) -> None:
    """11 attempts spaced by the ladder, parked with the reason, delivered once replayed.

    Bounds stated: each gap between attempts is at least its rung's delay and at most the
    delay plus 2.5 s; the breaker allows a probe again within 13 s of opening (open for 3 s).
    """
    retry = RetrySettings(delays=LADDER, delivery_limit=4)
    settings = fault_settings(broker_url, tmp_path, retry=retry)
    async with (
        order_world(
            settings, tmp_path, services=("publisher",), partner_breaker_open_seconds=BREAKER_OPEN
        ) as world,
        connected(broker_url) as connection,
    ):
        partner = world.partner
        channel = await connection.channel()
        failures = await channel.declare_queue("test.delivery-failed", durable=True)
        await failures.bind("events", "delivery.failed.v1")

        # Given the partner is down (every call answered 503)
        partner.status = 503
        # When an event is published
        await world.publish_orders(connection, "outage", 1, 100.0)
        [event_id] = world.published
        # Then it climbs the whole ladder and is parked after the last rung
        parked_queue = "publisher.dest.partner.parked"
        await eventually(lambda: queue_depth(connection, parked_queue), timeout=60, every=0.2)
        reports = [orjson.loads(m.body)["data"] for m in await drain(connection, failures.name)]
        reports.sort(key=lambda r: r["attempt"])
        assert [r["attempt"] for r in reports] == list(range(1, len(LADDER) + 2))
        assert [r["final"] for r in reports] == [False] * len(LADDER) + [True]
        times = [datetime.fromisoformat(r["failed_at"]).timestamp() for r in reports]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        excess = [gap - delay for gap, delay in zip(gaps, LADDER, strict=True)]
        assert all(0 <= extra <= SLACK for extra in excess), (gaps, LADDER)
        # And the attempts that reached the partner are its hits, spaced the same way
        reached = [r for r in reports if r["status_code"] == 503]
        assert len(reached) == len(partner.hits) >= 1
        assert all("circuit open" in r["error"] for r in reports if r["status_code"] is None)
        hit_gaps = [b.at - a.at for a, b in itertools.pairwise(partner.hits)]
        for gap, delay in zip(hit_gaps, LADDER, strict=False):
            assert gap >= delay, (hit_gaps, LADDER)
        # And the parked copy says why, and keeps the event
        [parked] = await parking.peek(connection, parked_queue, 10)
        assert parked.reason == "exhausted"
        assert parked.attempts == len(LADDER) + 1
        assert parked.queue == "publisher.dest.partner"
        assert parked.error  # the last error, e.g. the open circuit or the 503
        assert parked.message_id == event_id
        body: dict[str, Any] = orjson.loads(parked.body)
        assert body["id"] == event_id

        # When the partner is back, and the breaker is ready to try it again
        partner.status = 200
        publisher = world.services["publisher"]
        await eventually(lambda: _until_not_open(publisher.url), timeout=BREAKER_BOUND, every=0.5)
        # And the operator replays the parked queue
        replay = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", "publisher.dest.partner"
        )
        assert replay.returncode == 0, replay.stderr
        assert "replayed 1 of 1" in replay.stdout
        # Then it is delivered, and nothing stays parked
        await eventually(lambda: partner.succeeded, timeout=20)
        assert await queue_depth(connection, parked_queue) == 0
        delivered = {hit.idempotency_key for hit in partner.succeeded}
        report.add(
            accepted=1,
            delivered=len(delivered & world.published),
            duplicates=len(partner.succeeded) - 1,
            lost=len(world.published - delivered),
            note=(
                f"{len(reports)} attempts, gaps = rung + {min(excess):.2f}..{max(excess):.2f} s "
                f"({len(reached)} reached the partner, the rest met the open breaker), "
                f"parked '{parked.reason}', replayed"
            ),
        )
        assert delivered == world.published
        assert partner.verified


async def _until_not_open(url: str) -> bool:
    return await _breaker(url) != "open"
