"""intake: verified webhooks and dropped messages in, acknowledged only once stored."""

from __future__ import annotations

from collections.abc import Sequence

from shared.config import IntegrationsFile
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import INTAKE_QUEUE, WorkQueue

NAME = "intake"


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """The `intake` queue producers drop messages into (no binding: addressed directly)."""
    return [WorkQueue(INTAKE_QUEUE, service=NAME)]


async def wire(runtime: Runtime) -> Wiring:
    """Nothing consumes yet: the intake handlers arrive with the intake issue."""
    return Wiring()


DEFINITION = ServiceDefinition(NAME, 8000, queues, wire)
