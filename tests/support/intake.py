"""The intake service running in-process on a test vhost, with a queue capturing what it routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import orjson
import pytest

from services.intake.app import DEFINITION as INTAKE
from services.intake.app import QUEUE
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import Topology
from tests.support.events import drain, queue_depth
from tests.support.services import running

CAPTURE_QUEUE = "test.captured"


@dataclass
class Intake:
    """A running intake: its URL, a client, and a connection to look at the broker."""

    url: str
    client: httpx.AsyncClient
    connection: aio_pika.abc.AbstractConnection

    async def post(self, source: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST a webhook to `/webhooks/{source}`."""
        return await self.client.post(
            f"{self.url}/webhooks/{source}", content=body, headers=dict(headers)
        )

    async def drop(self, *messages: aio_pika.Message) -> None:
        """Publish messages into the `intake` queue, confirmed."""
        channel = await self.connection.channel(publisher_confirms=True)
        try:
            for message in messages:
                await channel.default_exchange.publish(message, routing_key=QUEUE.name)
        finally:
            await channel.close()

    async def captured(self) -> list[dict[str, Any]]:
        """Take every event routed to the capture queue so far."""
        return [orjson.loads(m.body) for m in await drain(self.connection, CAPTURE_QUEUE)]

    async def parked(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Take every message parked from the `intake` queue so far."""
        return await drain(self.connection, QUEUE.parked)

    async def depth(self, queue: str) -> int:
        """Messages ready in a queue."""
        return await queue_depth(self.connection, queue)


@asynccontextmanager
async def intake_running(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    captured: Iterable[str],
) -> AsyncIterator[Intake]:
    """Start intake with this integrations file and these secrets; capture these routing keys."""
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    integrations = IntegrationsFile.model_validate(config)
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    connection = await aio_pika.connect(url)
    async with (
        connection,
        running(INTAKE, settings, topology, integrations) as base,
        httpx.AsyncClient(timeout=10) as client,
    ):
        channel = await connection.channel()
        capture = await channel.declare_queue(CAPTURE_QUEUE, durable=True)
        for key in captured:
            await capture.bind("events", key)
        await channel.close()
        yield Intake(base, client, connection)
