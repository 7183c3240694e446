"""Single services as real processes (`eventyard run SERVICE --port N`), stopped by pid.

Each process starts in a session of its own, so a SIGKILL of its group leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import Settings
from tests.support.cli import environment
from tests.support.services import free_port
from tests.support.waiting import eventually


def service_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """`tests.support.cli.environment` plus the timing settings fault tests tune."""
    return environment(
        settings,
        EVENTYARD_PUBLISH_TIMEOUT_SECONDS=str(settings.publish_timeout_seconds),
        EVENTYARD_GRACEFUL_TIMEOUT_SECONDS=str(settings.graceful_timeout_seconds),
        EVENTYARD_HEARTBEAT_SECONDS=str(settings.heartbeat_seconds),
        EVENTYARD_PREFETCH=str(settings.prefetch),
        **extra,
    )


@dataclass
class ServiceProcess:
    """One service process; `start` again after a kill or stop runs a fresh one."""

    service: str
    env: Mapping[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def url(self) -> str:
        """The service's HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The current process id."""
        return self.process.pid if self.process is not None else None

    @property
    def log(self) -> Path:
        """Everything the service printed, across restarts."""
        return self.workdir / f"{self.service}.log"

    @property
    def alive(self) -> bool:
        """Whether the current process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Launch the process (not waiting for readiness)."""
        if self.alive:
            raise RuntimeError(f"{self.service} is already running")
        self.starts += 1
        with self.log.open("ab") as sink:
            sink.write(f"\n--- start {self.starts} ---\n".encode())
            sink.flush()
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-P",  # as `run all` starts its children: the cwd cannot shadow `cli`
                    "-m",
                    "cli.main",
                    "run",
                    self.service,
                    "--port",
                    str(self.port),
                ],
                env=dict(self.env),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def ready(self) -> bool:
        """Whether `/readyz` answers 200 (raises if the process died)."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"{self.service} exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        return await readyz(self.url) == 200

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the service says it is ready."""
        try:
            await eventually(self.ready, timeout=timeout, every=0.2)
        except AssertionError as error:
            raise AssertionError(f"{self.service}: {error}\n{self.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL the process group, as the OOM killer or a crash would."""
        if self.process is None or self.process.poll() is not None:
            return  # already gone (and reaped: its pid may belong to someone else by now)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def terminate(self) -> None:
        """Send SIGTERM (a graceful stop); `wait` for the exit."""
        if self.alive and self.process is not None:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float) -> int:
        """The exit code once the process ended; TimeoutError after `timeout` seconds."""
        if self.process is None:
            raise RuntimeError(f"{self.service} was never started")
        process = self.process
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.service} still running after {timeout} s")
            await asyncio.sleep(0.05)
        return process.returncode

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL whatever is left of the group."""
        if self.alive:
            self.terminate()
            with contextlib.suppress(TimeoutError):
                await self.wait(grace)
        self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the service's output, for failure messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


async def readyz(url: str) -> int | None:
    """The status of `GET /readyz`, or None when nothing answers."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"{url}/readyz")).status_code
    except httpx.TransportError:
        return None


@asynccontextmanager
async def services_running(
    names: Sequence[str], env: Mapping[str, str], workdir: Path, *, timeout: float = 60.0
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Start the named services as processes, wait until all are ready, stop them all after."""
    processes = {name: ServiceProcess(name, env, workdir) for name in names}
    try:
        for process in processes.values():
            process.start()
        await asyncio.gather(*(p.wait_ready(timeout) for p in processes.values()))
        yield processes
    finally:
        await asyncio.gather(*(p.stop() for p in processes.values()), return_exceptions=True)
        for process in processes.values():
            process.kill()  # by pid, even if the graceful stop above raised
