"""`eventyard status --once` against a topology with known depths."""

from __future__ import annotations

import asyncio

import aio_pika

from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import connected, publisher_for, sample_order
from tests.support.services import free_port


def row(output: str, name: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row for {name} in:\n{output}")


async def test_once_prints_depths_consumers_and_parked(settings: Settings) -> None:
    applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert applied.returncode == 0, applied.stderr
    async with connected(settings.broker_url.get_secret_value()) as connection:
        publisher = await publisher_for(connection)
        for n in range(3):
            await publisher.publish(sample_order(f"ord_{n}"))
        channel = await connection.channel(publisher_confirms=True)
        for n in range(2):
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=f"p{n}"), routing_key="email.send.parked"
            )
    nobody = free_port()  # no service answers there: their columns stay empty
    shown = await asyncio.to_thread(
        eventyard, settings, "status", "--once", "--base-port", str(nobody)
    )
    assert shown.returncode == 0, shown.stderr
    for step in ("order-followup.crm", "order-followup.confirmation", "order-followup.warehouse"):
        assert row(shown.stdout, step)[1:3] == ["3", "0"]
    email = row(shown.stdout, "email.send")
    assert email[1:3] == ["0", "0"]
    assert email[5] == "2"
    assert row(shown.stdout, "intake")[5] == "0"
    assert "not answering: intake, publisher, email, order-followup, health" in shown.stdout
