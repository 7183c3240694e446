"""Connections and channels to RabbitMQ, configured the one safe way."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractRobustConnection
from yarl import URL

from shared.settings import Settings, broker_url_problem


def connection_url(settings: Settings, name: str) -> str:
    """The broker URL with a connection name and heartbeat (both shown by the broker).

    A percent-encoded password stays encoded here and reaches the broker decoded.
    """
    url = _parsed(settings)
    return str(url.update_query(name=name, heartbeat=str(settings.heartbeat_seconds)))


def redacted_url(settings: Settings) -> str:
    """The broker URL without its password or query, for messages and logs."""
    try:
        url = _parsed(settings)
    except ValueError:
        return "EVENTYARD_BROKER_URL"
    url = url.with_query(None).with_fragment(None)
    return str(url.with_password("***")) if url.password else str(url)


def _parsed(settings: Settings) -> URL:
    """The broker URL parsed; a ValueError that quotes none of it when it cannot be."""
    raw = settings.broker_url.get_secret_value()
    problem = broker_url_problem(raw)
    if problem is not None:
        raise ValueError(f"EVENTYARD_BROKER_URL: {problem}")
    return URL(raw)


async def connect_robust(settings: Settings, name: str) -> AbstractRobustConnection:
    """A connection that reconnects and restores its channels and consumers (services)."""
    return await aio_pika.connect_robust(connection_url(settings, name))


async def connect(settings: Settings, name: str, within: float = 10.0) -> AbstractConnection:
    """A plain connection that fails fast (command-line tools)."""
    return await aio_pika.connect(connection_url(settings, name), timeout=within)


async def publish_channel(connection: AbstractConnection) -> AbstractChannel:
    """A channel with publisher confirms on which an unroutable publish raises."""
    return await connection.channel(publisher_confirms=True, on_return_raises=True)
