"""`eventyard parked groups`, and `replay`/`purge --group`, on the real broker: a group is one
cause whatever the ids in its errors, and acting on it leaves every other group parked."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractConnection

from shared import headers as h
from shared.publishing import build_event, event_message
from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth, sample_order

WORK, PARKED = "order-followup.crm", "order-followup.crm.parked"
DOWN = 'HttpTransientError: crm: POST /orders/sync returned 503: {{"id":"crm-{n}"}}'
REFUSED = "HttpPermanentError: crm: POST /orders/sync returned 422: order ord_{n}x is unknown"


async def park(connection: AbstractConnection, n: int, reason: str, error: str) -> None:
    channel = await connection.channel(publisher_confirms=True)
    message = event_message(build_event(sample_order(f"ord_{n}"), source="tests"))
    message.headers = {
        h.REASON: reason,
        h.ERROR_TYPE: error.split(":", 1)[0],
        h.ERROR_MESSAGE: error.format(n=n),
        h.QUEUE: WORK,
        h.ATTEMPTS: 6,
        h.LAST_FAILURE: f"2026-12-03T10:00:{n:02d}+00:00",
    }
    await channel.default_exchange.publish(message, routing_key=PARKED)
    await channel.close()


async def listed(settings: Settings) -> list[dict[str, Any]]:
    done = await asyncio.to_thread(eventyard, settings, "parked", "groups", "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = orjson.loads(done.stdout)
    return found


async def test_groups_fold_ids_and_replay_and_purge_act_on_one_group(settings: Settings) -> None:
    url = settings.broker_url.get_secret_value()
    applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert applied.returncode == 0, applied.stderr
    async with connected(url) as connection:
        # Given three messages parked because the CRM was down and two it refused, each error
        # naming its own ids
        for n in range(3):
            await park(connection, n, "exhausted", DOWN)
        for n in range(3, 5):
            await park(connection, n, "permanent", REFUSED)

        # When the operator lists the groups
        down, refused = await listed(settings)

        # Then there are two, by cause, with their counts and failure times
        assert (down["count"], down["reason"], down["status"]) == (3, "exhausted", 503)
        assert (down["queue"], down["error_type"]) == (WORK, "HttpTransientError")
        assert down["pattern"] == 'crm: POST /orders/sync returned <n>: {"id":"<id>"}'
        assert (down["oldest"], down["newest"]) == (
            "2026-12-03T10:00:00+00:00", "2026-12-03T10:00:02+00:00"
        )  # fmt: skip
        assert (refused["count"], refused["status"]) == (2, 422)
        assert refused["pattern"] == "crm: POST /orders/sync returned <n>: order <id> is unknown"
        table = await asyncio.to_thread(eventyard, settings, "parked", "groups", WORK)
        assert down["group"] in table.stdout
        assert refused["group"] in table.stdout

        # When one group is replayed by its id alone (dry run first)
        dry = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", "--group", down["group"], "--dry-run"
        )
        assert "would replay 3 of 5 scanned" in dry.stdout, dry.stderr
        assert await queue_depth(connection, PARKED) == 5
        done = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", "--group", down["group"]
        )
        assert "replayed 3 of 5 scanned from order-followup.crm.parked" in done.stdout, done.stderr

        # Then only that group went back to work; the other stays parked
        assert await queue_depth(connection, WORK) == 3
        assert [g["group"] for g in await listed(settings)] == [refused["group"]]

        # And purging a group asks for --yes, then deletes only that group
        asked = await asyncio.to_thread(
            eventyard, settings, "parked", "purge", "--group", refused["group"]
        )
        assert asked.returncode == 2
        assert "purging would delete 2 of 2 in group" in asked.stdout
        assert await queue_depth(connection, PARKED) == 2
        gone = await asyncio.to_thread(
            eventyard, settings, "parked", "purge", "--group", refused["group"], "--yes"
        )
        assert "purged 2 of 2 scanned" in gone.stdout, gone.stderr
        assert await queue_depth(connection, PARKED) == 0
        assert await queue_depth(connection, WORK) == 3

        # An unknown group is refused in one line
        unknown = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", "--group", "nope"
        )
        assert unknown.returncode == 2
        assert unknown.stderr.strip() == (
            "eventyard: no parked message is in group nope (see `eventyard parked groups`)"
        )


async def test_a_message_parked_by_the_broker_groups_as_a_delivery_limit(
    settings: Settings,
) -> None:
    url = settings.broker_url.get_secret_value()
    applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert applied.returncode == 0, applied.stderr
    async with connected(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        crash_looped = aio_pika.Message(
            b"{}", headers={"x-death": [{"reason": "delivery_limit", "queue": WORK, "count": 1}]}
        )
        await channel.default_exchange.publish(crash_looped, routing_key=PARKED)
        [group] = await listed(settings)
    assert (group["reason"], group["error_type"], group["count"]) == (
        "delivery_limit", "DeliveryLimitExceeded", 1
    )  # fmt: skip
