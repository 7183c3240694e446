"""Connections and channels to RabbitMQ, configured the one safe way."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractRobustConnection
from yarl import URL

from shared.settings import Settings


def connection_url(settings: Settings, name: str) -> str:
    """The broker URL with a connection name and heartbeat (both shown by the broker)."""
    url = URL(settings.broker_url.get_secret_value())
    return str(url.update_query(name=name, heartbeat=str(settings.heartbeat_seconds)))


def redacted_url(settings: Settings) -> str:
    """The broker URL without its password, for messages and logs."""
    url = URL(settings.broker_url.get_secret_value())
    return str(url.with_password("***")) if url.password else str(url)


async def connect_robust(settings: Settings, name: str) -> AbstractRobustConnection:
    """A connection that reconnects and restores its channels and consumers (services)."""
    return await aio_pika.connect_robust(connection_url(settings, name))


async def connect(settings: Settings, name: str, within: float = 10.0) -> AbstractConnection:
    """A plain connection that fails fast (command-line tools)."""
    return await aio_pika.connect(connection_url(settings, name), timeout=within)


async def publish_channel(connection: AbstractConnection) -> AbstractChannel:
    """A channel with publisher confirms on which an unroutable publish raises."""
    return await connection.channel(publisher_confirms=True, on_return_raises=True)
