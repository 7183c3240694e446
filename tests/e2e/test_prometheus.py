"""A real Prometheus server scrapes every running service; its HTTP API shows their series."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from services.yard import SERVICES
from shared.settings import Settings
from tests.support.services import free_port
from tests.support.tools import needs_tool
from tests.support.waiting import eventually
from tests.support.yard import Yard, yard_running

PROMETHEUS = shutil.which("prometheus")
pytestmark = needs_tool(PROMETHEUS is not None, "prometheus is not installed (make tools)")


def scrape_config(yard: Yard) -> str:
    jobs = "\n".join(
        f"  - job_name: eventyard-{name}\n"
        f"    static_configs: [{{targets: ['{url.removeprefix('http://')}']}}]"
        for name, url in yard.urls.items()
    )
    return f"global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}\n"


async def test_prometheus_finds_eventyard_series_from_every_service(
    settings: Settings, tmp_path: Path
) -> None:
    async with yard_running(settings, {}, {}, tmp_path) as yard:
        config = tmp_path / "prometheus.yml"
        config.write_text(scrape_config(yard))
        port = free_port()
        server = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(timeout=5) as client:

                async def jobs_with_series() -> set[str]:
                    try:
                        answer = await client.get(
                            f"http://127.0.0.1:{port}/api/v1/query",
                            params={"query": 'count by (job) ({__name__=~"eventyard_.+"})'},
                        )
                    except httpx.TransportError:
                        return set()
                    if answer.status_code != 200:
                        # Prometheus answers 503 in plain text until its TSDB has started.
                        return set()
                    return {r["metric"]["job"] for r in answer.json()["data"]["result"]}

                expected = {f"eventyard-{name}" for name in SERVICES}
                await eventually(lambda: _covers(jobs_with_series, expected), timeout=60)
                ready = await client.get(
                    f"http://127.0.0.1:{port}/api/v1/query",
                    params={"query": "eventyard_service_ready"},
                )
        finally:
            server.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.wait, 30)
    values = {r["metric"]["service"]: r["value"][1] for r in ready.json()["data"]["result"]}
    assert values == dict.fromkeys(SERVICES, "1")


async def _covers(found: Callable[[], Awaitable[set[str]]], expected: set[str]) -> bool:
    return expected <= await found()
