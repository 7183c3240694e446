"""`eventyard run all`: five processes, ready, stopped together by one SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from services.yard import SERVICES, service_urls
from services.yard import ports as yard_ports
from shared.settings import Settings
from tests.support.cli import environment
from tests.support.services import free_port_block
from tests.support.waiting import eventually
from tests.support.yard import all_ready

EVENTYARD = Path(sys.executable).with_name("eventyard")  # the console script, as users run it
DECOY = 'open("decoy-imported", "w").close()\nraise SystemExit("the decoy cli/ was imported")\n'


async def test_run_all_starts_every_service_and_stops_on_sigterm(settings: Settings) -> None:
    base = free_port_block(len(SERVICES))
    ports = list(yard_ports(base).values())
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


async def test_run_all_from_a_directory_with_a_cli_package_of_its_own(
    settings: Settings, tmp_path: Path
) -> None:
    # Given a project directory holding a `cli/` package of its own (a decoy that crashes)
    project = tmp_path / "project"
    (project / "cli").mkdir(parents=True)
    for module in ("__init__.py", "main.py"):
        (project / "cli" / module).write_text(DECOY)
    base = free_port_block(len(SERVICES))
    urls = service_urls(base_port=base)

    # When `eventyard run all` is started from there
    log = tmp_path / "run-all.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(EVENTYARD), "run", "all", "--base-port", str(base)],
            cwd=project,
            env=environment(settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        # Then every service runs our code and gets ready; the decoy is never imported
        async def ready() -> bool:
            assert process.poll() is None, f"run all exited:\n{log.read_text()[-3000:]}"
            return await all_ready(urls)

        await eventually(ready, timeout=60, every=0.5)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 45)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, log.read_text()[-3000:]
    assert not (project / "decoy-imported").exists()
