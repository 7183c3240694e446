"""A signed order webhook through every service, run as `eventyard run all` processes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shared.settings import Settings
from tests.support import signing
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth, sample_order
from tests.support.receiver import Receiver, serving
from tests.support.smtp import Mailbox, smtp_server
from tests.support.waiting import eventually
from tests.support.yard import Yard, yard_running

SHOP_SECRET = "whsec_" + base64.b64encode(b"e2e-shop-secret-0123456789").decode()
CRM_TOKEN = "crm-token-e2e-0123456789"


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


@pytest.fixture
async def world(settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
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


async def test_a_crm_outage_delays_only_crm_sync(world: World) -> None:
    # Given a CRM that answers 503 to its first two calls
    world.crm.script = [503, 503]
    await world.order("ord_outage")
    # Then email and warehouse complete without waiting for the CRM
    await eventually(lambda: world.warehouse.succeeded and world.mailbox.messages, timeout=30)
    # And the CRM sync completes on the ladder once the CRM answers again
    await eventually(lambda: world.crm.succeeded, timeout=30)
    await asyncio.sleep(1.0)
    assert [hit.status for hit in world.crm.hits] == [503, 503, 200]
    assert len({hit.idempotency_key for hit in world.crm.hits}) == 1
    assert len(world.warehouse.hits) == len(world.mailbox.messages) == 1


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
