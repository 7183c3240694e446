"""`eventyard parked show|replay|purge` act only on the yard's own parked queues.

Another team's queue on the same broker may end in `.parked` too; replaying it would push
their messages into a queue of that name, and purging it would delete them.
"""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth

FOREIGN = "billing.parked"


@pytest.mark.parametrize(
    "command",
    [
        ["parked", "purge", FOREIGN, "--yes"],
        ["parked", "replay", FOREIGN],
        ["parked", "show", FOREIGN],
        ["parked", "purge", "billing", "--yes"],
    ],
    ids=["purge", "replay", "show", "purge-by-work-queue-name"],
)
async def test_a_foreign_queue_ending_in_parked_is_left_alone(
    settings: Settings, command: list[str]
) -> None:
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        # Given another team's queue that happens to end in `.parked`, holding a message
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(FOREIGN, durable=True)
        await channel.declare_queue("billing", durable=True)
        await channel.default_exchange.publish(aio_pika.Message(b"an invoice"), routing_key=FOREIGN)
        # When an operator points a parked command at it
        done = await asyncio.to_thread(eventyard, settings, *command)
        # Then the command refuses in one line, and their message stays where it was
        assert done.returncode == 2, done.stdout
        assert "not one of the yard's parked queues" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert await queue_depth(connection, FOREIGN) == 1
        assert await queue_depth(connection, "billing") == 0


async def test_the_yards_own_parked_queues_still_answer(settings: Settings) -> None:
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
        assert applied.returncode == 0, applied.stderr
        by_work_queue = await asyncio.to_thread(eventyard, settings, "parked", "show", "email.send")
        by_parked = await asyncio.to_thread(
            eventyard, settings, "parked", "replay", "email.send.parked"
        )
        assert by_work_queue.returncode == 0, by_work_queue.stderr
        assert "email.send.parked is empty" in by_work_queue.stdout
        assert by_parked.returncode == 0, by_parked.stderr
        assert await queue_depth(connection, "email.send.parked") == 0
