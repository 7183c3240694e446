"""publisher against real local receivers: signed, once each, ladder, 410, 429, timeouts."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from services.catalog import build_topology
from services.publisher.app import DEFINITION as PUBLISHER
from shared import headers as h
from shared.config import load_integrations
from shared.settings import RetrySettings, Settings
from tests.support.cli import eventyard
from tests.support.events import connected, drain, publisher_for, queue_depth, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.services import running
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

SECRET = "whsec_" + base64.b64encode(b"partner-signing-secret-0123").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"partner-signing-secret-old").decode()


def destination(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "events": ["order.*.v1"],
        "secrets": ["PARTNER_SECRET"],
        "allow_private_network": True,
        "timeout_seconds": 2,
        **extra,
    }


@asynccontextmanager
async def yard(
    settings: Settings, receivers: dict[str, Receiver], **per_destination: dict[str, Any]
) -> AsyncIterator[Callable[[int], Any]]:
    """Receivers served, the publisher running for them; yields `publish(n)`."""
    async with AsyncExitStack() as stack:
        for receiver in receivers.values():
            await stack.enter_async_context(serving(receiver))
        config = {
            "destinations": {
                name: destination(r.url, **per_destination.get(name, {}))
                for name, r in receivers.items()
            }
        }
        write_integrations(settings.config, config)  # for the CLI in the same test
        integrations = load_integrations(settings.config)
        topology = build_topology(settings, integrations)
        await stack.enter_async_context(running(PUBLISHER, settings, topology, integrations))
        connection = await stack.enter_async_context(
            connected(settings.broker_url.get_secret_value())
        )
        publisher = await publisher_for(connection)

        async def publish(n: int) -> list[str]:
            events = [await publisher.publish(sample_order(f"ord_{i}")) for i in range(n)]
            return [e.id for e in events]

        publish.connection = connection  # type: ignore[attr-defined]
        yield publish


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_SECRET", SECRET)


async def test_every_subscriber_gets_each_event_once_signed(settings: Settings) -> None:
    receivers = {
        "partner": Receiver(SECRET),
        "analytics": Receiver(SECRET),
        "other": Receiver(SECRET),
    }
    async with yard(
        settings, receivers, other={"events": ["email.*.v1"]}, analytics={"policy": "best-effort"}
    ) as publish:
        ids = await publish(5)
        await eventually(
            lambda: len(receivers["partner"].hits) == 5 and len(receivers["analytics"].hits) == 5
        )
        await asyncio.sleep(0.5)
    for name in ("partner", "analytics"):
        receiver = receivers[name]
        assert receiver.unique == dict.fromkeys(ids, 1)
        assert receiver.verified
        assert {hit.idempotency_key for hit in receiver.hits} == set(ids)
        assert receiver.hits[0].body["type"] == "order.created"
    assert receivers["other"].hits == []


async def test_rotation_signs_with_every_secret(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_OLD", OLD_SECRET)
    receivers = {"new": Receiver(SECRET), "old": Receiver(OLD_SECRET)}
    both = {"secrets": ["PARTNER_SECRET", "PARTNER_OLD"]}
    async with yard(settings, receivers, new=both, old=both) as publish:
        await publish(1)
        await eventually(lambda: receivers["new"].hits and receivers["old"].hits)
    assert receivers["new"].verified
    assert receivers["old"].verified
    assert len(receivers["new"].hits[0].headers["webhook-signature"].split()) == 2


async def test_500_climbs_the_ladder_then_parks_with_the_status(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET, status=500)}
    async with yard(settings, receivers) as publish:
        await publish(1)
        connection = publish.connection  # type: ignore[attr-defined]
        parked = "publisher.dest.partner.parked"
        await eventually(lambda: queue_depth(connection, parked), timeout=20)
        [message] = await drain(connection, parked)
    assert len(receivers["partner"].hits) == 1 + len(settings.retry.delays)
    assert message.headers[h.REASON] == "exhausted"
    assert "500" in str(message.headers[h.ERROR_MESSAGE])
    assert len(receivers["partner"].unique) == 1


async def test_410_disables_the_destination_until_enabled(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET, status=410)}
    async with yard(settings, receivers) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        parked = "publisher.dest.partner.parked"
        await publish(1)
        await eventually(lambda: queue_depth(connection, parked))
        await publish(1)
        await eventually(lambda: _depth_is(connection, parked, 2))
        listed = await asyncio.to_thread(eventyard, settings, "destinations")
        reasons = sorted(str(m.headers[h.REASON]) for m in await drain(connection, parked))
        enabled = await asyncio.to_thread(eventyard, settings, "destinations", "enable", "partner")
        after = await asyncio.to_thread(eventyard, settings, "destinations")
    assert reasons == ["disabled", "gone"]
    assert len(receivers["partner"].hits) == 1  # the second delivery never left
    assert listed.returncode == 0, listed.stderr
    assert "disabled" in listed.stdout
    assert "410" in listed.stdout
    assert enabled.returncode == 0, enabled.stderr
    assert "disabled" not in after.stdout.split("\n", 1)[1]


async def test_429_retry_after_is_respected(settings: Settings) -> None:
    slow_ladder = settings.model_copy(
        update={"retry": RetrySettings(delays=[0.2, 1.5, 2.0], delivery_limit=2)}
    )
    receivers = {"partner": Receiver(SECRET, script=[429], headers={"Retry-After": "1"})}
    async with yard(slow_ladder, receivers) as publish:
        await publish(1)
        await eventually(lambda: len(receivers["partner"].hits) == 2, timeout=15)
    first, second = receivers["partner"].hits
    assert second.at - first.at >= 1.0


async def test_hanging_receiver_hits_the_timeout_and_is_retried(settings: Settings) -> None:
    receivers = {"partner": Receiver(SECRET, delay=5)}
    started = time.monotonic()
    async with yard(settings, receivers, partner={"timeout_seconds": 0.5}) as publish:
        await publish(1)
        await eventually(lambda: len(receivers["partner"].hits) >= 2, timeout=15)
    assert time.monotonic() - started < 15


async def test_a_hanging_destination_does_not_hold_back_a_healthy_one(settings: Settings) -> None:
    receivers = {"healthy": Receiver(SECRET), "hanging": Receiver(SECRET, delay=30)}
    async with yard(
        settings, receivers, hanging={"timeout_seconds": 10, "concurrency": 2}
    ) as publish:
        connection = publish.connection  # type: ignore[attr-defined]
        ids = await publish(100)
        await eventually(lambda: len(receivers["healthy"].hits) == 100, timeout=30)
        backlog = await queue_depth(connection, "publisher.dest.hanging")
    assert receivers["healthy"].unique == dict.fromkeys(ids, 1)
    assert len(receivers["hanging"].hits) <= 2
    assert backlog >= 95


async def _depth_is(connection: Any, name: str, n: int) -> bool:
    return await queue_depth(connection, name) == n
