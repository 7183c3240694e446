"""`eventyard run all`: five processes, ready, stopped together by one SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import httpx

from services.catalog import SERVICES
from shared.settings import Settings
from tests.support.cli import environment
from tests.support.services import free_port_block
from tests.support.waiting import eventually


async def test_run_all_starts_every_service_and_stops_on_sigterm(settings: Settings) -> None:
    base = free_port_block(len(SERVICES))
    ports = [base + n for n in range(len(SERVICES))]
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "all", "--base-port", str(base)],
        env=environment(settings),
    )
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def all_ready() -> bool:
                try:
                    answers = [await client.get(f"http://127.0.0.1:{p}/readyz") for p in ports]
                except httpx.TransportError:
                    return False
                return all(a.status_code == 200 for a in answers)

            await eventually(all_ready, timeout=60, every=0.5)
            alive = await client.get(f"http://127.0.0.1:{ports[0]}/healthz")
            metrics = await client.get(f"http://127.0.0.1:{ports[0]}/metrics")
        assert alive.json() == {"status": "alive"}
        assert 'eventyard_service_ready{service="intake"} 1.0' in metrics.text
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 45)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
