"""The FastStream kit's subscriber (shared.faststream) with a no-op handler, until SIGTERM.

`python -m bench.workers.faststream_kit QUEUE`: FastStream's consumer in front of the yard's
consume path (envelope and contract validation, retry and parking, ack after work), on the loop
eventyard's own step runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from bench.progress import Progress
from contracts.orders import OrderCreatedV1
from shared import event_loop
from shared.faststream import Incoming, YardBroker, yard_subscriber
from shared.settings import Settings


async def consume(queue: str) -> None:
    """Consume `queue` until SIGTERM."""
    settings = Settings()
    broker = YardBroker(
        settings.broker_url.get_secret_value(),
        service="bench-faststream",
        delays=settings.retry.delays,
        delivery_limit=settings.retry.delivery_limit,
        prefetch=settings.prefetch,
        logger=None,
    )
    progress = Progress()

    @yard_subscriber(broker, queue, OrderCreatedV1)
    async def count(_: Incoming[Any]) -> None:
        progress.tick()

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await broker.start()
    try:
        await stop.wait()
    finally:
        await broker.stop()


def main() -> None:
    """Parse the arguments and consume."""
    parser = argparse.ArgumentParser()
    parser.add_argument("queue")
    event_loop.run(consume(parser.parse_args().queue))


if __name__ == "__main__":
    main()
