"""Fan-out: the broker copies each event to every subscribed destination's queue.

Each `publisher.dest.<name>` queue is bound to `events` with its destination's patterns, so
the topic exchange makes the copies; the publisher consumes nothing twice. Versions before
0.2 had a fan-out step of their own on `publisher.fanout`; `legacy_fanout` drains that queue if
an upgraded broker still has it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aio_pika.abc import AbstractConnection

from services.publisher.metrics import PublisherMetrics
from services.publisher.patterns import matches
from shared.config import DestinationConfig
from shared.consumer import Handler, Incoming, Step
from shared.failures import copy_with
from shared.parking import depth
from shared.publishing import Confirmer, event_key
from shared.topology import EVENTS_EXCHANGE, WorkQueue
from shared.tracing import carried

LEGACY_FANOUT_QUEUE = "publisher.fanout"
DESTINATION_HEADER = "x-eventyard-destination"

log = logging.getLogger(__name__)


def destination_queue(destination: str) -> str:
    """`publisher.dest.<name>`."""
    return f"publisher.dest.{destination}"


def subscribers(destinations: Mapping[str, DestinationConfig], routing_key: str) -> list[str]:
    """The destinations whose patterns match the routing key."""
    return [
        name
        for name, config in destinations.items()
        if any(matches(pattern, routing_key) for pattern in config.events)
    ]


def fan_out(
    destinations: Mapping[str, DestinationConfig],
    confirmer: Confirmer,
    metrics: PublisherMetrics,
) -> Handler:
    """The handler of the legacy `publisher.fanout`: one confirmed copy per subscriber."""

    async def handle(incoming: Incoming[Any]) -> None:
        key = event_key(incoming.event)
        for name in subscribers(destinations, key):
            # A retry after a partial fan-out repeats some copies; receivers dedupe by
            # webhook-id, which is the event id.
            headers = {**carried(incoming.message.headers), DESTINATION_HEADER: name}
            copy = copy_with(incoming.message, headers)
            await confirmer.send("", destination_queue(name), copy)
            metrics.fanned_out.labels(name).inc()

    return handle


async def legacy_fanout(
    connection: AbstractConnection,
    destinations: Mapping[str, DestinationConfig],
    confirmer: Confirmer,
    metrics: PublisherMetrics,
    service: str,
) -> Step | None:
    """A step draining `publisher.fanout` if the broker still has it, after unbinding it.

    Unbound, it stops collecting events (the destination queues receive them now); what it
    already holds is copied to the destinations as before. Once it is empty an operator may
    delete it (docs/operating.md, "Upgrading").
    """
    found = await depth(connection, LEGACY_FANOUT_QUEUE)
    if found is None:
        return None
    async with connection.channel() as channel:
        queue = await channel.declare_queue(LEGACY_FANOUT_QUEUE, passive=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        for pattern in sorted({p for d in destinations.values() for p in d.events}):
            await queue.unbind(exchange, pattern)
    log.warning(
        "legacy queue %s found (%d messages): unbound from %s and drained to the destination "
        "queues; delete it once empty",
        LEGACY_FANOUT_QUEUE,
        found[0],
        EVENTS_EXCHANGE,
    )
    return Step(  # a drain of the old topology, not an attempt at anything: not reported
        WorkQueue(LEGACY_FANOUT_QUEUE, service=service),
        fan_out(destinations, confirmer, metrics),
        reported=None,
    )
