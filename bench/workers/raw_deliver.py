"""Raw delivery: aio-pika consume, Standard Webhooks HMAC, POST with aiohttp, ack.

`python -m bench.workers.raw_deliver URL QUEUE TARGET_URL --prefetch 64 [--uvloop]`: the same
work as the publisher's delivery of one event to one destination, written plainly, with none of
the yard's guarantees (no SSRF check, breaker, rate limit, response cap, outcome event, ladder):
the ceiling the libraries reach on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import signal
import time

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage

from shared.topology import WorkQueue, work_queue_arguments

KEY = b"bench-destination-secret-0123"


def signed_headers(event_id: str, body: bytes) -> dict[str, str]:
    """webhook-id, webhook-timestamp, webhook-signature over `id.timestamp.body`."""
    timestamp = str(int(time.time()))
    mac = hmac.new(KEY, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/cloudevents+json",
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


async def deliver(url: str, queue_name: str, target: str, prefetch: int) -> None:
    """Consume and deliver until SIGTERM; a failed POST is requeued."""
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    connection = await aio_pika.connect_robust(url)
    async with connection, aiohttp.ClientSession() as session:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments=work_queue_arguments(WorkQueue(queue_name), 10)
        )

        async def post(message: AbstractIncomingMessage) -> None:
            headers = signed_headers(message.message_id or "", message.body)
            try:
                async with session.post(target, data=message.body, headers=headers) as response:
                    await response.read()
                    ok = 200 <= response.status < 300
            except aiohttp.ClientError:
                ok = False
            if ok:
                await message.ack()
            else:
                await message.nack(requeue=True)

        tag = await queue.consume(post)
        await stop.wait()
        await queue.cancel(tag)


def main() -> None:
    """Parse the arguments and deliver."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("target")
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--uvloop", action="store_true", help="uvloop instead of asyncio's loop")
    args = parser.parse_args()
    work = deliver(args.url, args.queue, args.target, args.prefetch)
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - a bench extra

        uvloop.run(work)
    else:
        asyncio.run(work)


if __name__ == "__main__":
    main()
