"""An eventyard consumer step with a no-op handler, run as a service (`run_service`).

`python -m bench.workers.step QUEUE [--latency]`: the full consume path (envelope and contract
validation, metrics, retry and parking, ack after work) in front of a handler that only counts,
or, with `--latency`, records publish->handled time from the `x-bench-sent` header.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.infra import SENT_HEADER
from bench.progress import Progress
from contracts.orders import OrderCreatedV1
from shared import event_loop
from shared.config import IntegrationsFile
from shared.consumer import Handler, Incoming, Step
from shared.logs import configure_logging
from shared.service import Runtime, ServiceDefinition, Wiring, run_service
from shared.settings import Settings
from shared.topology import Topology, WorkQueue
from tests.support.services import free_port


def handler(latency: bool) -> Handler:
    """Count each message; with `latency`, record how long it took to get here."""
    progress = Progress()

    async def count(_: Incoming[Any]) -> None:
        progress.tick()

    async def measure(incoming: Incoming[Any]) -> None:
        sent = (incoming.message.headers or {}).get(SENT_HEADER)
        progress.tick(time.monotonic() - float(sent) if isinstance(sent, float) else None)

    return measure if latency else count


def main() -> None:
    """Consume the queue until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("queue")
    parser.add_argument("--latency", action="store_true")
    args = parser.parse_args()
    queue = WorkQueue(args.queue, (OrderCreatedV1.key(),), service="bench")
    step = Step(queue, handler(args.latency), accepts=(OrderCreatedV1,))

    async def wire(_: Runtime) -> Wiring:
        return Wiring(steps=[step])

    settings = Settings()
    configure_logging("bench-step", settings.log_level)
    topology = Topology((queue,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    definition = ServiceDefinition("bench-step", 0, lambda _: [queue], wire)
    event_loop.run(
        run_service(definition, settings, IntegrationsFile(), topology, port=free_port())
    )


if __name__ == "__main__":
    main()
