"""Serve any Starlette app on a loopback port for the duration of a block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from shared.http import http_server


@asynccontextmanager
async def served(app: Starlette, port: int, *, abandon: bool = False) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1:`port`; yields its base URL (`abandon`: at the end, do not
    wait for requests still in a handler, such as a stand-in that hangs on purpose)."""
    server = http_server(app, "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = abandon
        await task
