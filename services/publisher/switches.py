"""Which destinations are disabled, kept on the broker so every replica and the CLI agree.

Each destination has a durable marker queue `publisher.disabled.<name>`; the destination is
disabled while that queue holds a message, whose body says why and since when. No other store
is needed: `eventyard destinations disable` publishes the note, `enable` purges it.

The marker queue is declared, never passively probed: a passive declare of a missing queue
makes the broker close the channel, and on a robust connection aio-pika reopens every such
channel behind our back (one leaked channel per lookup, until channel_max).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue

from contracts.envelope import utc_now

MARKER_PREFIX = "publisher.disabled."
MARKER_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
CACHE_SECONDS = 2.0


def marker_queue(destination: str) -> str:
    """The marker queue whose message disables a destination."""
    return MARKER_PREFIX + destination


@dataclass(frozen=True)
class Disabled:
    """Why and since when a destination is disabled."""

    reason: str
    since: str


async def _marker(channel: AbstractChannel, destination: str) -> AbstractQueue:
    return await channel.declare_queue(
        marker_queue(destination), durable=True, arguments=MARKER_ARGUMENTS
    )


async def disable(connection: AbstractConnection, destination: str, reason: str) -> None:
    """Disable a destination (idempotent; the first reason is kept)."""
    async with await connection.channel(publisher_confirms=True) as channel:
        queue = await _marker(channel, destination)
        if (queue.declaration_result.message_count or 0) == 0:
            note = {"reason": reason, "since": utc_now().isoformat()}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    orjson.dumps(note), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=queue.name,
            )


async def enable(connection: AbstractConnection, destination: str) -> bool:
    """Enable a destination; False if it was not disabled.

    A replica reading the note (`state`) holds it unacked for a moment, unseen by a purge; it
    comes back when that replica's channel closes. So the marker is purged until it stays
    empty for a moment, or the note would come back and keep the destination disabled.
    """
    was_disabled = False
    async with await connection.channel() as channel:
        for check in range(ENABLE_CHECKS):
            queue = await _marker(channel, destination)
            if queue.declaration_result.message_count:
                was_disabled = True
                await queue.purge()
            elif check > 0:
                break  # empty twice in a row, a moment apart: nothing is coming back
            await asyncio.sleep(ENABLE_SETTLE_SECONDS)
    return was_disabled


async def state(connection: AbstractConnection, destination: str) -> Disabled | None:
    """The destination's disabled state, read from the broker."""
    channel = await connection.channel()
    try:
        queue = await _marker(channel, destination)
        if (queue.declaration_result.message_count or 0) == 0:
            return None
        message = await queue.get(no_ack=False, fail=False)
        note = orjson.loads(message.body) if message is not None else {}
        return Disabled(str(note.get("reason", "disabled")), str(note.get("since", "")))
    finally:
        with contextlib.suppress(Exception):
            await channel.close()  # also returns the note to its queue


ENABLE_CHECKS = 4
ENABLE_SETTLE_SECONDS = 0.05


class Switches:
    """Cached disabled-state lookups for the delivery path: one broker read per 2 s at most."""

    def __init__(self, connection: AbstractConnection) -> None:
        self._connection = connection
        self._cache: dict[str, tuple[float, Disabled | None]] = {}
        self._lock = asyncio.Lock()  # concurrent deliveries on a cache miss read once

    async def disabled(self, destination: str) -> Disabled | None:
        """The destination's state, at most CACHE_SECONDS old."""
        cached = self._fresh(destination)
        if cached is not None:
            return cached[1]
        async with self._lock:
            cached = self._fresh(destination)
            if cached is not None:
                return cached[1]
            found = await state(self._connection, destination)
            self._cache[destination] = (time.monotonic(), found)
            return found

    async def disable(self, destination: str, reason: str) -> None:
        """Disable now, for this replica at once and for the others within seconds."""
        await disable(self._connection, destination, reason)
        self._cache[destination] = (time.monotonic(), Disabled(reason, utc_now().isoformat()))

    def _fresh(self, destination: str) -> tuple[float, Disabled | None] | None:
        cached = self._cache.get(destination)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached
        return None
