"""A signed order webhook through every service, run as `eventyard run all` processes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aio_pika.abc import AbstractConnection, AbstractQueue

from contracts.emails import EmailSentV1
from contracts.orders import (
    OrderConfirmationRequestedV1,
    OrderCrmSyncedV1,
    OrderWarehouseNotifiedV1,
)
from shared.settings import RetrySettings, Settings
from shared.topology import EVENTS_EXCHANGE
from tests.support import signing
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.smtp import Mailbox, smtp_server
from tests.support.waiting import eventually
from tests.support.yard import Yard, yard_running

SHOP_SECRET = "whsec_" + base64.b64encode(b"e2e-shop-secret-0123456789").decode()
CRM_TOKEN = "crm-token-e2e-0123456789"
OUTAGE_LADDER = [1.0, 2.0, 4.0, 8.0]
CRM_SYNCED = OrderCrmSyncedV1.key()
COMPLETIONS = {
    CRM_SYNCED,
    OrderWarehouseNotifiedV1.key(),
    OrderConfirmationRequestedV1.key(),
    EmailSentV1.key(),
}


@dataclass
class World:
    yard: Yard
    crm: Receiver
    warehouse: Receiver
    mailbox: Mailbox
    settings: Settings

    async def order(self, order_id: str) -> str:
        data = sample_order(order_id).model_dump(mode="json")
        body = orjson.dumps({"type": "order.paid", "data": data})
        headers = signing.standard_webhooks(SHOP_SECRET, body, f"msg_{order_id}")
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                f"{self.yard.url('intake')}/webhooks/shop", content=body, headers=headers
            )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["event_id"])


class EventTap:
    """A throwaway queue bound to `events` for some routing keys: what was published there."""

    def __init__(self, queue: AbstractQueue) -> None:
        self._queue = queue
        self.keys: list[str] = []

    @classmethod
    async def bind(cls, connection: AbstractConnection, keys: Iterable[str]) -> EventTap:
        """Bind a server-named exclusive queue to each key (before the events are published)."""
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, "topic", durable=True)
        queue = await channel.declare_queue(exclusive=True)
        for key in keys:
            await queue.bind(exchange, key)
        return cls(queue)

    async def seen(self) -> set[str]:
        """The routing keys published so far."""
        while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
            self.keys.append(message.routing_key or "")
        return set(self.keys)


@pytest.fixture
async def world(settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(settings, tmp_path) as running:
        yield running


@asynccontextmanager
async def running_world(settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
    """Receivers for the CRM and the warehouse, an SMTP mailbox, and the yard aimed at them."""
    crm, warehouse = Receiver(), Receiver()
    async with AsyncExitStack() as stack:
        for receiver in (crm, warehouse):
            await stack.enter_async_context(serving(receiver))
        mailbox = stack.enter_context(smtp_server(Mailbox()))
        config: dict[str, Any] = {
            "sources": {
                "shop": {
                    "scheme": "standard-webhooks",
                    "secrets": ["SHOP_SECRET"],
                    "map": {"order.paid": "order.created.v1"},
                }
            },
            "integrations": {
                "crm": {
                    "base_url": crm.base,
                    "auth": "bearer",
                    "credentials": ["CRM_TOKEN"],
                    "allow_private_network": True,
                    "max_retries": 0,
                },
                "warehouse": {"base_url": warehouse.base, "allow_private_network": True},
            },
            "email": {"provider": "smtp", "smtp_port": mailbox.port},
        }
        secrets = {"SHOP_SECRET": SHOP_SECRET, "CRM_TOKEN": CRM_TOKEN}
        yard = await stack.enter_async_context(yard_running(settings, config, secrets, tmp_path))
        yield World(yard, crm, warehouse, mailbox, settings)


async def test_a_paid_order_reaches_crm_warehouse_and_mailbox_exactly_once(world: World) -> None:
    await world.order("ord_e2e")
    await eventually(
        lambda: world.crm.succeeded and world.warehouse.succeeded and world.mailbox.messages,
        timeout=30,
    )
    await asyncio.sleep(1.0)  # anything doubled would arrive by now
    [crm] = world.crm.hits
    [shipment] = world.warehouse.hits
    [mail] = world.mailbox.messages
    assert crm.path == "/orders/sync"
    assert crm.headers["authorization"] == f"Bearer {CRM_TOKEN}"
    assert crm.body["order"]["order_id"] == "ord_e2e"
    assert crm.idempotency_key
    assert shipment.path == "/shipments"
    assert shipment.body["order_id"] == "ord_e2e"
    assert mail["Subject"] == "Your order ord_e2e is confirmed"
    assert mail["To"] == "ada@example.com"


async def test_a_crm_outage_delays_only_crm_sync(settings: Settings, tmp_path: Path) -> None:
    """Email and warehouse complete while the CRM still answers 503; the CRM catches up later.

    A ladder long enough that the CRM sync is still waiting on it when the CRM recovers
    (5 attempts over ~15 s; the CRM's breaker needs 5 calls to open).
    """
    slow = settings.model_copy(
        update={"retry": RetrySettings(delays=OUTAGE_LADDER, delivery_limit=2)}
    )
    async with (
        running_world(slow, tmp_path) as world,
        connected(slow.broker_url.get_secret_value()) as connection,
    ):
        tap = await EventTap.bind(connection, COMPLETIONS)
        # Given a CRM that answers 503 until told otherwise
        world.crm.status = 503
        await world.order("ord_outage")
        # Then email and warehouse complete while the CRM is still failing
        await eventually(
            lambda: world.warehouse.succeeded and world.mailbox.messages and world.crm.hits,
            timeout=10,
        )
        assert not world.crm.succeeded, [hit.status for hit in world.crm.hits]
        # And their completion events are published, the CRM's not (yet)
        others = COMPLETIONS - {CRM_SYNCED}
        await eventually(lambda: _published(tap, others), timeout=10)
        assert CRM_SYNCED not in await tap.seen()

        # When the CRM answers again
        world.crm.status = 200
        # Then the CRM sync completes on the ladder, and its event is published
        await eventually(lambda: world.crm.succeeded, timeout=30)
        await eventually(lambda: _published(tap, {CRM_SYNCED}), timeout=10)
        await asyncio.sleep(1.0)  # anything doubled would arrive by now
        statuses = [hit.status for hit in world.crm.hits]
        assert statuses == [503] * (len(statuses) - 1) + [200], statuses
        assert len({hit.idempotency_key for hit in world.crm.hits}) == 1
        assert len(world.warehouse.hits) == len(world.mailbox.messages) == 1
        await tap.seen()
        assert sorted(tap.keys) == sorted(COMPLETIONS)  # each completion published once


async def _published(tap: EventTap, keys: set[str]) -> bool:
    return keys <= await tap.seen()


async def test_crm_down_past_the_last_attempt_is_parked_then_replayed(world: World) -> None:
    world.crm.status = 503
    await world.order("ord_parked")
    url = world.settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        await eventually(lambda: queue_depth(connection, "order-followup.crm.parked"), timeout=30)
    assert world.warehouse.succeeded
    assert world.mailbox.messages
    assert len(world.crm.hits) == 1 + len(world.settings.retry.delays)

    world.crm.status = 200
    replay = await asyncio.to_thread(
        eventyard, world.settings, "parked", "replay", "order-followup.crm"
    )
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1 of 1" in replay.stdout
    await eventually(lambda: world.crm.succeeded, timeout=20)
    await asyncio.sleep(0.5)
    assert len(world.crm.succeeded) == 1
    assert world.crm.succeeded[0].body["order"]["order_id"] == "ord_parked"
