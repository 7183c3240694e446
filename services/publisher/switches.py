"""Which destinations are disabled, kept on the broker so every replica and the CLI agree.

A destination is disabled while a durable marker queue `publisher.disabled.<name>` exists; its
one message says why. No extra store is needed, and `eventyard destinations enable` deletes it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import aio_pika
import orjson
from aio_pika.abc import AbstractConnection

from contracts.envelope import utc_now

MARKER_PREFIX = "publisher.disabled."
CACHE_SECONDS = 2.0


def marker_queue(destination: str) -> str:
    """The marker queue whose existence disables a destination."""
    return MARKER_PREFIX + destination


@dataclass(frozen=True)
class Disabled:
    """Why and since when a destination is disabled."""

    reason: str
    since: str


async def disable(connection: AbstractConnection, destination: str, reason: str) -> None:
    """Disable a destination (idempotent; the first reason is kept)."""
    channel = await connection.channel(publisher_confirms=True)
    async with channel:
        queue = await channel.declare_queue(
            marker_queue(destination), durable=True, arguments={"x-queue-type": "quorum"}
        )
        if (queue.declaration_result.message_count or 0) == 0:
            note = {"reason": reason, "since": utc_now().isoformat()}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    orjson.dumps(note), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=queue.name,
            )


async def enable(connection: AbstractConnection, destination: str) -> bool:
    """Enable a destination; False if it was not disabled."""
    if await state(connection, destination) is None:
        return False
    channel = await connection.channel()
    async with channel:
        await channel.queue_delete(marker_queue(destination))
    return True


async def state(connection: AbstractConnection, destination: str) -> Disabled | None:
    """The destination's disabled state, read from the broker."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(marker_queue(destination), passive=True)
    except aio_pika.exceptions.ChannelClosed:
        return None  # the broker closed the channel: no marker, so enabled
    try:
        message = await queue.get(no_ack=False, fail=False)
        note = orjson.loads(message.body) if message is not None else {}
        return Disabled(str(note.get("reason", "disabled")), str(note.get("since", "")))
    finally:
        with contextlib.suppress(Exception):
            await channel.close()  # returns the note to its queue


class Switches:
    """Cached disabled-state lookups for the delivery path (one broker read per 2 s)."""

    def __init__(self, connection: AbstractConnection) -> None:
        self._connection = connection
        self._cache: dict[str, tuple[float, Disabled | None]] = {}

    async def disabled(self, destination: str) -> Disabled | None:
        """The destination's state, at most CACHE_SECONDS old."""
        cached = self._cache.get(destination)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        found = await state(self._connection, destination)
        self._cache[destination] = (time.monotonic(), found)
        return found

    async def disable(self, destination: str, reason: str) -> None:
        """Disable now, for this replica at once and for the others within seconds."""
        await disable(self._connection, destination, reason)
        self._cache[destination] = (time.monotonic(), Disabled(reason, utc_now().isoformat()))
