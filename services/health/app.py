"""health: watches the broker, every queue and every integration."""

from __future__ import annotations

from collections.abc import Sequence

from shared.config import IntegrationsFile
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "health"


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """health consumes nothing."""
    return []


async def wire(runtime: Runtime) -> Wiring:
    """Nothing checked yet: the checks arrive with the health issue."""
    return Wiring()


DEFINITION = ServiceDefinition(NAME, 8004, queues, wire)
