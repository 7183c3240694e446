"""Watches the broker for the demo: every event on `events`, every hop up the retry ladder."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiormq
import orjson
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from shared import headers as h
from shared.topology import EVENTS_EXCHANGE, Topology


@dataclass(frozen=True)
class Seen:
    """Something the broker carried."""

    kind: str  # "event" or "retry"
    routing_key: str
    exchange: str
    event: dict[str, Any]
    headers: dict[str, Any]


class Observer:
    """An exclusive, auto-deleted queue bound to `events` (`#`) and to the ladder's exchanges."""

    def __init__(
        self, connection: AbstractConnection, topology: Topology, feed: asyncio.Queue[Any]
    ) -> None:
        self._connection = connection
        self._topology = topology
        self.feed = feed

    async def start(self) -> list[str]:
        """Bind and start consuming (copies only: the real queues are untouched).

        Returns the ladder exchanges it watches: those of the topology that exist.
        """
        watched = [s for s in dict.fromkeys(self._topology.ladder) if await self._exists(s)]
        channel = await self._connection.channel()
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(EVENTS_EXCHANGE, "#")
        for step in watched:
            await queue.bind(step, "")
        await queue.consume(self._on_message, no_ack=True)
        return watched

    async def _exists(self, exchange: str) -> bool:
        # A passive declare of a missing exchange makes the broker close the channel: one each.
        channel = await self._connection.channel()
        try:
            await channel.declare_exchange(exchange, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return False
        finally:
            if not channel.is_closed:
                await channel.close()
        return True

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            event = {}
        exchange = message.exchange or ""
        kind = "retry" if exchange != EVENTS_EXCHANGE else "event"
        headers = {k: h.text(v) for k, v in (message.headers or {}).items() if k.startswith("x-e")}
        self.feed.put_nowait(
            Seen(
                kind,
                message.routing_key or "",
                exchange,
                event if isinstance(event, dict) else {},
                headers,
            )
        )
