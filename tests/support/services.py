"""Run a service in-process against a test vhost, ready before the test goes on."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from shared.config import IntegrationsFile
from shared.service import ServiceDefinition, run_service
from shared.settings import Settings
from shared.topology import Topology
from shared.tracing import Tracing
from tests.support.waiting import eventually


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports, below Linux's ephemeral range (32768+) so
    that outgoing connections cannot take one of them meanwhile."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        if all(_bindable(base + n) for n in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@asynccontextmanager
async def running(
    definition: ServiceDefinition,
    settings: Settings,
    topology: Topology,
    integrations: IntegrationsFile | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[str]:
    """Start the service, wait for `/readyz` to say ready, yield its base URL, stop it
    (`tracing`: where its spans go, tests/support/tracing.py; else as `settings` say)."""
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_service(
            definition,
            settings,
            integrations or IntegrationsFile(),
            topology,
            port=port,
            stop=stop,
            tracing=tracing,
        )
    )
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if task.done():
            task.result()  # surface the service's own exception
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(ready, timeout=20)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
