"""A worker whose handler kills its own process: `python -m tests.support.crash_worker QUEUE`."""

from __future__ import annotations

import asyncio
import os
import sys

from contracts.orders import OrderCreatedV1
from shared.config import IntegrationsFile
from shared.consumer import Incoming, Step
from shared.service import Runtime, ServiceDefinition, Wiring, run_service
from shared.settings import Settings
from shared.topology import Topology, WorkQueue
from tests.support.services import free_port


def main(queue_name: str) -> None:
    """Consume QUEUE; die with exit code 3 on the first message, before any ack."""
    queue = WorkQueue(queue_name, (OrderCreatedV1.key(),))

    async def crash(_: Incoming[OrderCreatedV1]) -> None:
        os._exit(3)

    async def wire(_: Runtime) -> Wiring:
        return Wiring(steps=[Step(queue, crash, accepts=(OrderCreatedV1,))])

    settings = Settings()
    topology = Topology((queue,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    definition = ServiceDefinition("crash-worker", 0, lambda _: [queue], wire)
    asyncio.run(run_service(definition, settings, IntegrationsFile(), topology, port=free_port()))


if __name__ == "__main__":
    main(sys.argv[1])
