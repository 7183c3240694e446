"""The fan-out step: one delivery message per subscribed destination, on its own queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.publisher.metrics import PublisherMetrics
from services.publisher.patterns import matches
from shared.config import DestinationConfig
from shared.consumer import Handler, Incoming
from shared.failures import copy_with
from shared.publishing import Confirmer, event_key

DESTINATION_HEADER = "x-eventyard-destination"


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
    """The handler of `publisher.fanout`: copy the event to each subscriber, all confirmed."""

    async def handle(incoming: Incoming[Any]) -> None:
        key = event_key(incoming.event)
        for name in subscribers(destinations, key):
            # A retry after a partial fan-out repeats some copies; receivers dedupe by
            # webhook-id, which is the event id.
            copy = copy_with(incoming.message, {DESTINATION_HEADER: name})
            await confirmer.send("", destination_queue(name), copy)
            metrics.fanned_out.labels(name).inc()

    return handle
