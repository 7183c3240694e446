"""Sample events and direct broker access for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection

from contracts.orders import OrderCreatedV1
from shared.broker import publish_channel
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter


def sample_order(order_id: str = "ord_1") -> OrderCreatedV1:
    """The contract's own example, with another order id."""
    example: dict[str, Any] = OrderCreatedV1.model_json_schema()["examples"][0]
    return OrderCreatedV1.model_validate({**example, "order_id": order_id})


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[AbstractConnection]:
    """A plain connection for the test's own publishing and inspection."""
    connection = await aio_pika.connect(url)
    async with connection:
        yield connection


async def emitter_for(connection: AbstractConnection, source: str = "tests") -> Emitter:
    """The project's publish API on a fresh confirm channel."""
    confirmer = Confirmer(await publish_channel(connection), timeout=5)
    return Emitter(confirmer, source=source, metrics=Metrics("tests"))


async def queue_depth(connection: AbstractConnection, name: str) -> int:
    """Messages ready in a queue."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await channel.close()


async def drain(
    connection: AbstractConnection, name: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take (and ack) every message of a queue."""
    channel = await connection.channel()
    taken = []
    try:
        queue = await channel.declare_queue(name, passive=True)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            await message.ack()
            taken.append(message)
        return taken
    finally:
        await channel.close()
