"""Raw aio-pika: manual ack after a no-op handler, on a queue declared like eventyard's.

`python -m bench.workers.raw URL QUEUE --prefetch N [--latency] [--uvloop]`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench.infra import SENT_HEADER
from bench.progress import Progress
from shared.topology import WorkQueue, work_queue_arguments


async def consume(url: str, queue_name: str, prefetch: int, latency: bool, limit: int) -> None:
    """Consume until SIGTERM."""
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    progress = Progress()
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments=work_queue_arguments(WorkQueue(queue_name), limit)
        )

        async def count(message: AbstractIncomingMessage) -> None:
            progress.tick()
            await message.ack()

        async def measure(message: AbstractIncomingMessage) -> None:
            sent = (message.headers or {}).get(SENT_HEADER)
            progress.tick(time.monotonic() - float(sent) if isinstance(sent, float) else None)
            await message.ack()

        tag = await queue.consume(measure if latency else count)
        await stop.wait()
        await queue.cancel(tag)


def main() -> None:
    """Parse the arguments and consume."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--delivery-limit", type=int, default=10)
    parser.add_argument("--uvloop", action="store_true", help="uvloop instead of asyncio's loop")
    args = parser.parse_args()
    work = consume(args.url, args.queue, args.prefetch, args.latency, args.delivery_limit)
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - a bench extra

        uvloop.run(work)
    else:
        asyncio.run(work)


if __name__ == "__main__":
    main()
