"""Every eventyard service as its own process (`eventyard run NAME`), as production runs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core import BenchConfig
from bench.infra import Proc, eventyard_env, port, spawn, stop_all, wait_ready
from services.yard import SERVICES
from tests.support.toml import write_integrations


@dataclass
class Service:
    """One running service."""

    name: str
    proc: Proc
    url: str


@asynccontextmanager
async def yard(
    config: BenchConfig,
    integrations: Mapping[str, Any],
    *,
    tag: str,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[dict[str, Service]]:
    """Start all five services on the bench's vhost, wait until each is ready, stop them after."""
    toml = write_integrations(config.workdir / f"{tag}.toml", dict(integrations))
    base = eventyard_env(config.broker_url, EVENTYARD_CONFIG=str(toml), **dict(env or {}))
    services: dict[str, Service] = {}
    try:
        for name in SERVICES:
            http = port()
            proc = spawn(f"{tag}-{name}", ["cli.main", "run", name, "--port", str(http)],
                         config.workdir, base)  # fmt: skip
            services[name] = Service(name, proc, f"http://127.0.0.1:{http}")
        procs = [s.proc for s in services.values()]
        await asyncio.gather(*(wait_ready(s.url, procs, within=90) for s in services.values()))
        yield services
    finally:
        await stop_all(s.proc for s in services.values())


def logs(config: BenchConfig, tag: str) -> list[Path]:
    """The log files of a yard."""
    return [config.workdir / f"{tag}-{name}.log" for name in SERVICES]
