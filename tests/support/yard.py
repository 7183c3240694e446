"""The whole yard as real processes (`eventyard run all`), for end-to-end and fault tests."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.yard import SERVICES, service_urls
from shared.settings import Settings
from tests.support.cli import environment
from tests.support.services import free_port_block
from tests.support.toml import write_integrations
from tests.support.waiting import eventually


@dataclass
class Yard:
    """A running yard: each service's base URL by name."""

    urls: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, service: str) -> str:
        """The base URL of one service."""
        return self.urls[service]


async def all_ready(urls: dict[str, str]) -> bool:
    """Whether every service answers `/readyz` with 200."""
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            answers = [await client.get(f"{url}/readyz") for url in urls.values()]
    except httpx.TransportError:
        return False
    return all(a.status_code == 200 for a in answers)


@asynccontextmanager
async def yard_running(
    settings: Settings, config: dict[str, Any] | Path, secrets: dict[str, str], workdir: Path
) -> AsyncIterator[Yard]:
    """Write the integrations file (or copy one), start all services, wait until ready; stop
    them after."""
    if isinstance(config, Path):
        settings.config.write_text(config.read_text())
    else:
        write_integrations(settings.config, config)
    base = free_port_block(len(SERVICES))
    urls = service_urls(base_port=base)
    log = workdir / "yard.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "cli.main", "run", "all", "--base-port", str(base)],
            env=environment(settings, **secrets),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        await eventually(lambda: _alive_and_ready(process, urls, log), timeout=60, every=0.3)
        yield Yard(urls, process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _alive_and_ready(
    process: subprocess.Popen[bytes], urls: dict[str, str], log: Path
) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the yard exited early:\n{log.read_text()[-3000:]}")
    return await all_ready(urls)
