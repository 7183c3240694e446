"""email: renders and sends `email.requested.v1`."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.emails import EmailRequestedV1
from shared.config import IntegrationsFile
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "email"
SEND_QUEUE = WorkQueue("email.send", (EmailRequestedV1.key(),), service=NAME)


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """One step: send."""
    return [SEND_QUEUE]


async def wire(runtime: Runtime) -> Wiring:
    """Nothing consumes yet: sending arrives with the email issue."""
    return Wiring()


DEFINITION = ServiceDefinition(NAME, 8002, queues, wire)
