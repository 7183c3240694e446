"""One HTTP client POSTing ~1 KB to a local receiver at a concurrency; its rate and CPU.

`python -m bench.workers.client_load CLIENT URL OUT --concurrency C --requests N`, on uvloop as
the services run. CLIENT is `httpx` (httpx's own pool), `httpx-aiohttp` (httpx over the
`httpx-aiohttp` library's transport), `httpx-yard-pool` (httpx over the gateway's own aiohttp
transport, `shared/gateway/pools.py`), `aiohttp`, or `gateway` (the yard's whole
Gateway.request: SSRF check, breaker, limiter, response cap, audit metric). Writes
{"rate", "cpu_us"} as JSON to OUT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport
from prometheus_client import CollectorRegistry

from bench.clients import CLIENTS
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.pools import AiohttpPool
from shared.redact import Redactor

BODY = b'{"type":"order.created","data":"' + b"x" * 1000 + b'"}'
HEADERS = {"content-type": "application/json"}
WARMUP = 200

Post = Callable[[], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


async def run(client: str, url: str, concurrency: int, requests: int) -> dict[str, float]:
    """Warm up, then time `requests` POSTs from `concurrency` tasks."""
    post, close = await poster(client, url, concurrency)
    try:
        await spread(post, WARMUP, concurrency)
        started, cpu = time.perf_counter(), time.process_time()
        await spread(post, requests, concurrency)
        span, used = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await close()
    return {"rate": requests / span, "cpu_us": 1e6 * used / requests}


async def spread(post: Post, count: int, concurrency: int) -> None:
    """`count` posts from `concurrency` tasks."""
    left = iter(range(count))

    async def worker() -> None:
        for _ in left:
            await post()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def poster(
    client: str, url: str, concurrency: int
) -> tuple[Post, Callable[[], Awaitable[None]]]:
    """A function that makes one POST with the named client, and how to close that client."""
    if client == "aiohttp":
        session = aiohttp.ClientSession()

        async def post_aiohttp() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()

        return post_aiohttp, session.close
    if client in ("httpx", "httpx-aiohttp", "httpx-yard-pool"):
        limits = httpx.Limits(max_connections=concurrency)
        transport: httpx.AsyncBaseTransport | None = None
        if client == "httpx-aiohttp":
            transport = AiohttpTransport()
        elif client == "httpx-yard-pool":
            transport = AiohttpPool()
        hx = httpx.AsyncClient(limits=limits, transport=transport)

        async def post_httpx() -> None:
            (await hx.post(url, content=BODY, headers=HEADERS)).raise_for_status()

        return post_httpx, hx.aclose
    policy = EndpointPolicy(
        name="bench",
        base_url=url,
        allow_private_network=True,
        concurrency=concurrency,
        rate_limit_per_second=1_000_000,
    )
    gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())

    async def post_gateway() -> None:
        await gateway.request("bench", "POST", content=BODY, headers=HEADERS)

    return post_gateway, gateway.aclose


def main() -> None:
    """Parse the arguments, measure, write the JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    result = uvloop.run(run(args.client, args.url, args.concurrency, args.requests))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
