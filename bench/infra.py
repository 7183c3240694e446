"""Processes, the broker and the messages every comparison needs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import psutil
from aio_pika.abc import AbstractChannel, AbstractConnection, DeliveryMode

from bench import progress
from bench.core import chunks
from contracts.envelope import CONTENT_TYPE
from contracts.orders import OrderCreatedV1
from shared.metrics import Metrics
from shared.publishing import build_event
from tests.support.events import sample_order
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parent.parent
FILL_WINDOW = 500
SENT_HEADER = "x-bench-sent"


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    """A child process of the bench, with its log and its psutil handle."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    handle: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.handle = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def check(self) -> None:
        """RuntimeError with the end of its log if it has exited."""
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-2500:] if self.log.exists() else ""
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def tree(self) -> list[psutil.Process]:
        """The process and its children (pool workers)."""
        try:
            return [self.handle, *self.handle.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its children so far."""
        total = 0.0
        for proc in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss_mb(self) -> float:
        """Resident memory of the process and its children, in MB."""
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total / 1e6

    async def stop(self, grace: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.popen.wait, grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            await asyncio.to_thread(self.popen.wait)


def spawn(
    name: str,
    module_args: Sequence[str],
    workdir: Path,
    env: Mapping[str, str] | None = None,
    *,
    tree: Path | None = None,
) -> Proc:
    """Start `python -m MODULE ARGS…` with its output in a log file.

    With `tree`, the product code (`shared`, `services`, `cli`, …) is imported from that source
    tree instead, while `bench` still comes from this one: how a "before" tree is compared.
    """
    log = workdir / f"{name}.log"
    command = [sys.executable, "-m", *module_args]
    extra = dict(env or {})
    if tree is not None:
        extra["PYTHONPATH"] = str(ROOT)
    with log.open("ab") as sink:
        popen = subprocess.Popen(
            command,
            cwd=tree or ROOT,
            env={**os.environ, **extra},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    return Proc(name, popen, log)


async def stop_all(procs: Iterable[Proc]) -> None:
    """Stop several processes at once."""
    await asyncio.gather(*(p.stop() for p in procs))


def broker_process(amqp_port: int = 5672) -> psutil.Process | None:
    """The RabbitMQ node listening on `amqp_port` (its Erlang VM), to read its CPU.

    There may be other Erlang VMs about (rabbitmqctl runs in one, other brokers in others).
    """
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "beam.smp":
            continue
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == amqp_port:
                    return proc
    return None


class CpuMeter:
    """CPU used by some processes between `start()` and `stop()`, as % of one core."""

    def __init__(self, procs: Sequence[Proc], broker: psutil.Process | None) -> None:
        self._procs = procs
        self._broker = broker
        self._started = 0.0
        self._cpu: list[float] = []
        self._broker_cpu = 0.0
        self.workers = 0.0
        self.broker = float("nan")
        self.each: list[float] = []

    def _broker_seconds(self) -> float:
        if self._broker is None:
            return float("nan")
        try:
            times = self._broker.cpu_times()
        except psutil.Error:
            return float("nan")
        return float(times.user + times.system)

    def start(self) -> None:
        """Begin the window."""
        self._started = time.monotonic()
        self._cpu = [p.cpu_seconds() for p in self._procs]
        self._broker_cpu = self._broker_seconds()

    def stop(self) -> float:
        """End the window; returns its length in seconds."""
        span = max(1e-6, time.monotonic() - self._started)
        self.each = [
            100 * (p.cpu_seconds() - before) / span
            for p, before in zip(self._procs, self._cpu, strict=True)
        ]
        self.workers = sum(self.each)
        self.broker = 100 * (self._broker_seconds() - self._broker_cpu) / span
        return span


async def wait_for(
    condition: Callable[[], Any],
    *,
    within: float,
    every: float = 0.02,
    procs: Sequence[Proc] = (),
    what: str = "condition",
) -> None:
    """Poll until `condition()` is truthy; check the processes are alive meanwhile."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        for proc in procs:
            proc.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {within:.0f} s")
        await asyncio.sleep(every)


async def wait_ready(url: str, procs: Sequence[Proc], within: float = 60) -> None:
    """Until the service at `url` answers `/readyz` with 200."""
    async with httpx.AsyncClient(timeout=2) as client:

        async def ready() -> bool:
            try:
                return (await client.get(f"{url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, within=within, every=0.1, procs=procs, what=f"{url} ready")


# ---------------------------------------------------------------- the broker


async def connect(url: str) -> AbstractConnection:
    """A plain connection for the bench's own publishing and inspection."""
    return await aio_pika.connect(url)


async def declare(
    connection: AbstractConnection, name: str, arguments: Mapping[str, Any] | None = None
) -> None:
    """Declare a durable queue with these arguments."""
    async with connection.channel() as channel:
        await channel.declare_queue(name, durable=True, arguments=dict(arguments or {}))


async def depth(connection: AbstractConnection, name: str) -> int:
    """Messages ready in a queue (0 if it does not exist)."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0
    except aio_pika.exceptions.ChannelClosed:
        return 0
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def purge(connection: AbstractConnection, *names: str) -> None:
    """Empty queues that exist (missing ones are skipped)."""
    for name in names:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
            await queue.purge()
        except aio_pika.exceptions.ChannelClosed:
            pass
        finally:
            with contextlib.suppress(Exception):
                await channel.close()


async def confirm_channel(connection: AbstractConnection) -> AbstractChannel:
    """A channel with publisher confirms."""
    return await connection.channel(publisher_confirms=True)


async def fill(
    connection: AbstractConnection,
    routing_key: str,
    make: Callable[[int], aio_pika.Message],
    count: int,
    *,
    exchange: str = "",
) -> None:
    """Publish `count` messages, persistent and confirmed, `FILL_WINDOW` in flight at once."""
    async with await confirm_channel(connection) as channel:
        target = (
            channel.default_exchange
            if not exchange
            else await channel.get_exchange(exchange, ensure=False)
        )
        for part in chunks(count, FILL_WINDOW):
            await asyncio.gather(*(target.publish(make(i), routing_key) for i in part))


# ---------------------------------------------------------------- messages


class OrderEvents:
    """`order.created.v1` CloudEvents: built once, each copy with a fresh event id."""

    def __init__(self) -> None:
        event = build_event(sample_order("ord_bench"), source="bench")
        self.template_id = event.id
        self.body = event.to_json()
        self.key = OrderCreatedV1.key()
        self.payload: dict[str, Any] = sample_order("ord_bench").model_dump(mode="json")

    def body_with_id(self, event_id: str) -> bytes:
        """The same event under another id."""
        return self.body.replace(self.template_id.encode(), event_id.encode())

    def message(self, headers: Mapping[str, Any] | None = None) -> aio_pika.Message:
        """A persistent AMQP message as the publish API would send it."""
        event_id = str(uuid.uuid4())
        return aio_pika.Message(
            body=self.body_with_id(event_id),
            content_type=CONTENT_TYPE,
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=event_id,
            correlation_id=event_id,
            type=self.key,
            headers=dict(headers or {}),
        )


def bench_metrics() -> Metrics:
    """A metrics registry of the bench's own (publish API contestants count into it)."""
    return Metrics("bench")


# ---------------------------------------------------------------- progress in children


def progress_env(directory: Path, samples: int = 0) -> dict[str, str]:
    """The environment that points a worker's `Progress` at `directory`."""
    return {progress.ENV_DIR: str(directory), progress.ENV_SAMPLES: str(samples)}


async def until_count(
    directory: Path, count: int, procs: Sequence[Proc], within: float
) -> progress.Totals:
    """Wait until the workers reported `count` messages; their totals."""
    await wait_for(
        lambda: progress.read(directory).count >= count,
        within=within,
        procs=procs,
        what=f"{count} messages handled",
    )
    return progress.read(directory)


@asynccontextmanager
async def running(*procs: Proc) -> AsyncIterator[Sequence[Proc]]:
    """Stop the processes however the block ends."""
    try:
        yield procs
    finally:
        await stop_all(procs)


def eventyard_env(url: str, **extra: str) -> dict[str, str]:
    """What a service process needs to act on the bench's vhost."""
    return {"EVENTYARD_BROKER_URL": url, "EVENTYARD_LOG_LEVEL": "INFO", **extra}


def port() -> int:
    """A free loopback port."""
    return free_port()
