"""publisher: fans events out to destinations, each on its own queue."""

from __future__ import annotations

from collections.abc import Sequence

from shared.config import IntegrationsFile
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "publisher"
FANOUT_QUEUE = "publisher.fanout"


def destination_queue(destination: str) -> str:
    """`publisher.dest.<name>`."""
    return f"publisher.dest.{destination}"


def queues(integrations: IntegrationsFile) -> Sequence[WorkQueue]:
    """The fan-out queue (bound to every destination's patterns) and one queue per destination."""
    if not integrations.destinations:
        return []
    patterns = sorted({p for d in integrations.destinations.values() for p in d.events})
    return [
        WorkQueue(FANOUT_QUEUE, tuple(patterns), service=NAME),
        *(WorkQueue(destination_queue(name), service=NAME) for name in integrations.destinations),
    ]


async def wire(runtime: Runtime) -> Wiring:
    """Nothing consumes yet: delivery arrives with the gateway and publisher issue."""
    return Wiring()


DEFINITION = ServiceDefinition(NAME, 8001, queues, wire)
