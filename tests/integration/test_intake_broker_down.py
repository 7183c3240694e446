"""With the broker unreachable, intake answers 503 (never 202); a retry after recovery stores it."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from pydantic import SecretStr

from services.intake.app import DEFINITION as INTAKE
from services.intake.app import QUEUE
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import Topology
from tests.support import signing
from tests.support.events import connected, drain, queue_depth
from tests.support.proxy import FaultProxy
from tests.support.services import running
from tests.support.waiting import eventually

SECRET = "whsec_" + base64.b64encode(b"shop-secret-0123456789").decode()


async def test_broker_outage_gets_503_and_the_retry_is_stored(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    direct = settings.broker_url.get_secret_value()
    proxy = await FaultProxy("127.0.0.1", urlsplit(direct).port or 5672).start()
    via_proxy = direct.replace(":5672/", f":{proxy.port}/")
    proxied = settings.model_copy(
        update={"broker_url": SecretStr(via_proxy), "publish_timeout_seconds": 2.0}
    )
    integrations = IntegrationsFile.model_validate(
        {"sources": {"shop": {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"]}}}
    )
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    body = orjson.dumps({"type": "customer.updated", "data": {"id": 1}})
    try:
        async with (
            running(INTAKE, proxied, topology, integrations) as base,
            connected(direct) as connection,
            httpx.AsyncClient(timeout=15) as client,
        ):
            channel = await connection.channel()
            capture = await channel.declare_queue("test.captured", durable=True)
            await capture.bind("events", "webhook.received.shop.v1")

            # When the broker becomes unreachable
            proxy.refuse()
            headers = signing.standard_webhooks(SECRET, body, "msg_outage")
            during = await client.post(f"{base}/webhooks/shop", content=body, headers=headers)
            not_ready = await client.get(f"{base}/readyz")

            # Then the sender is told to retry, and readiness says why
            assert during.status_code == 503
            assert during.headers["Retry-After"] == "5"
            assert not_ready.status_code == 503

            # When the broker is back and the sender retries the same delivery
            proxy.refuse(False)
            await eventually(lambda: _ready(client, base), timeout=30, every=0.2)
            after = await client.post(f"{base}/webhooks/shop", content=body, headers=headers)
            assert after.status_code == 202
            await eventually(lambda: queue_depth(connection, "test.captured"))
            await asyncio.sleep(0.3)
            stored = [orjson.loads(m.body)["id"] for m in await drain(connection, "test.captured")]
            # Then it is stored (at least once; a publish cut mid-confirm may also have landed)
            assert after.json()["event_id"] in stored
            assert set(stored) == {after.json()["event_id"]}
    finally:
        await proxy.stop()


async def _ready(client: httpx.AsyncClient, base: str) -> bool:
    return (await client.get(f"{base}/readyz")).status_code == 200
