"""`eventyard topology apply|show` on a fresh vhost."""

from __future__ import annotations

import asyncio

from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import connected, emitter_for, sample_order


async def test_apply_is_idempotent_and_show_reports_depths(settings: Settings) -> None:
    before = await asyncio.to_thread(eventyard, settings, "topology", "show")
    first = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    second = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    async with connected(settings.broker_url.get_secret_value()) as connection:
        publisher = await emitter_for(connection)
        for n in range(3):
            await publisher.publish(sample_order(f"ord_{n}"))
    shown = await asyncio.to_thread(eventyard, settings, "topology", "show")

    assert before.returncode == 0
    assert "missing" in before.stdout
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines()[1:]}
    # Three steps bound to order.created.v1 hold three messages each; nothing else does.
    for step in ("order-followup.crm", "order-followup.confirmation", "order-followup.warehouse"):
        assert rows[step][1:] == ["work", "order.created.v1", "3", "0"]
        assert rows[f"{step}.parked"][1:] == ["parked", "-", "0", "0"]
    for delay in settings.retry.delays:
        assert f"retry.{round(delay * 1000)}ms" in rows
    assert "missing" not in shown.stdout
