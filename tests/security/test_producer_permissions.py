"""A producer with SECURITY.md's permissions reaches the drop door and nothing else.

The drop door's trust boundary holds only if producers cannot go around it: the default
exchange reaches every queue (a producer could write into `email.send` directly) and
`events` reaches every consumer. With write permission on the `intake` exchange alone, a
producer's message can only arrive where intake checks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractConnection
from aiormq.exceptions import ChannelAccessRefused
from yarl import URL

from shared.settings import Settings
from tests.support.broker import broker_user
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth, sample_order

PASSWORD = "producer-password-0123"
# SECURITY.md: configure nothing, write only the `intake` exchange, read nothing.
PRODUCER = {"configure": "^$", "write": "^intake$", "read": "^$"}


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AbstractConnection]:
    applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert applied.returncode == 0, applied.stderr
    url = settings.broker_url.get_secret_value()
    with broker_user(url, PASSWORD, **PRODUCER) as user:
        own = URL(url).with_user(user).with_password(PASSWORD)
        async with connected(str(own)) as connection:
            yield connection


def order() -> aio_pika.Message:
    body = sample_order("ord_producer").model_dump_json().encode()
    return aio_pika.Message(body, type="order.created.v1")


async def test_a_producer_drops_into_the_intake_exchange(
    settings: Settings, producer: AbstractConnection
) -> None:
    channel = await producer.channel(publisher_confirms=True)
    intake = await channel.get_exchange("intake", ensure=False)
    await intake.publish(order(), routing_key="")
    async with connected(settings.broker_url.get_secret_value()) as yard:
        assert await queue_depth(yard, "intake") == 1


@pytest.mark.parametrize(
    ("exchange", "routing_key"),
    [("", "email.send"), ("", "order-followup.crm"), ("events", "order.created.v1")],
    ids=["default-exchange-into-a-work-queue", "default-exchange-into-a-step", "events"],
)
async def test_a_producer_cannot_go_around_the_drop_door(
    settings: Settings, producer: AbstractConnection, exchange: str, routing_key: str
) -> None:
    channel = await producer.channel(publisher_confirms=True)
    target = (
        channel.default_exchange
        if exchange == ""
        else await channel.get_exchange(exchange, ensure=False)
    )
    with pytest.raises(ChannelAccessRefused):
        await target.publish(order(), routing_key=routing_key)
    async with connected(settings.broker_url.get_secret_value()) as yard:
        assert await queue_depth(yard, "email.send") == 0
        assert await queue_depth(yard, "order-followup.crm") == 0
