"""Comparison 9: the publisher delivering to one healthy destination, against raw delivery.

Both contestants take a pre-filled backlog of `order.created.v1` events and POST each, signed
with HMAC-SHA256, to the same local receiver, which answers 200 at once:

- raw: aio-pika consuming a quorum queue with manual acks and prefetch 64, signing, POSTing with
  aiohttp, acking (`bench.workers.raw_deliver`): the libraries' ceiling here.
- eventyard, with and without the attempts log (with it, the publisher reports its attempts in
  `attempts.recorded.v1` batches and the health service writes them to its SQLite file in the
  same run; without it, attempts are not reported and nothing takes `health.attempts`):
  the publisher service with one destination at concurrency 64: the fan-out step
  copies each event to the destination's queue (confirmed), the delivery step signs and POSTs
  it through the gateway (SSRF check, breaker, rate limit, response cap, audit metric), publishes
  the `delivery.succeeded.v1` outcome (confirmed) and acks.

Each round is bounded by time: the window opens at the first delivery and closes when the
backlog is drained or after `deliver_seconds`, whichever comes first; the rate and the
contestant's CPU per delivery are read over that window.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aio_pika.abc import AbstractConnection

from bench import progress
from bench.core import BenchConfig, Measurement, Section, at_least, at_most, interleave, rows_from
from bench.fanout import SECRET, SECRET_ENV, destination, queues
from bench.infra import (
    OrderEvents,
    Proc,
    eventyard_env,
    fill,
    port,
    progress_env,
    purge,
    spawn,
    stop_all,
    wait_for,
    wait_ready,
)
from services.health.attempts import QUEUE as ATTEMPTS_QUEUE
from services.yard import build_topology
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, Topology, WorkQueue, declare, work_queue_arguments
from tests.support.toml import write_integrations

RAW = "raw aio-pika + aiohttp"
YARD = "eventyard publisher"
LOGGED = "eventyard publisher, attempts log on"
LOGGED_AT_LEAST = 0.95
CONCURRENCY = 64
RATE_AT_LEAST = 0.5
CPU_AT_MOST_US = 600


async def measured(
    receiver_dir: Path, contestants: list[Proc], procs: list[Proc], count: int, seconds: float
) -> Measurement:
    """Deliveries per second and CPU µs per delivery over the round's window."""
    await wait_for(
        lambda: progress.read(receiver_dir).count > 0,
        within=90,
        procs=procs,
        what="the first delivery",
    )
    started, cpu = time.monotonic(), sum(p.cpu_seconds() for p in contestants)
    before = progress.read(receiver_dir).count
    deadline = started + seconds
    await wait_for(
        lambda: progress.read(receiver_dir).count >= count or time.monotonic() >= deadline,
        within=seconds + 5,
        procs=procs,
        what=f"{count} deliveries",
    )
    span = time.monotonic() - started
    done = progress.read(receiver_dir).count - before
    used = sum(p.cpu_seconds() for p in contestants) - cpu
    return {"rate": done / span, "cpu_us": 1e6 * used / max(done, 1)}


async def publisher_round(
    config: BenchConfig, connection: AbstractConnection, *, processes: int, log: bool = False
) -> Measurement:
    """The publisher (in `processes` processes, as replicas) drains a backlog to one receiver;
    with `log`, it reports its attempts and the health service writes them meanwhile, else
    attempts are not reported (and queue `health.attempts` is left out of the topology)."""
    events = OrderEvents()
    settings = Settings(broker_url=config.broker_url)
    count, seconds = config.messages, config.deliver_seconds
    receiver_dir = config.workdir / "deliver-yard"
    progress.reset(receiver_dir)
    receiver_port = port()
    toml = config.workdir / "deliver.toml"
    table = {**destination(f"http://127.0.0.1:{receiver_port}/hook")}
    table["concurrency"] = CONCURRENCY
    raw_config = {"destinations": {"good": table}}
    write_integrations(toml, raw_config)
    integrations = IntegrationsFile.model_validate(raw_config)
    topology = build_topology(settings, integrations)
    if not log:
        kept = tuple(q for q in topology.queues if q.name != ATTEMPTS_QUEUE.name)
        topology = Topology(kept, topology.delays, topology.delivery_limit)
    async with connection.channel() as channel:
        await declare(channel, topology)
    await fill(connection, events.key, lambda _: events.message(), count,
               exchange=EVENTS_EXCHANGE)  # fmt: skip
    receiver = spawn("deliver-receiver", ["bench.workers.receiver", str(receiver_port), "ok"],
                     config.workdir, progress_env(receiver_dir))  # fmt: skip
    env = eventyard_env(
        config.broker_url,
        EVENTYARD_CONFIG=str(toml),
        EVENTYARD_GRACEFUL_TIMEOUT_SECONDS="1",
        EVENTYARD_REPLICAS=str(processes),
        EVENTYARD_ATTEMPTS__REPORT="true" if log else "false",
        **{SECRET_ENV: SECRET},
    )
    https = [port() for _ in range(processes)]
    publishers = [
        spawn(f"deliver-publisher-{n}", ["cli.main", "run", "publisher", "--port", str(http)],
              config.workdir, env)
        for n, http in enumerate(https)
    ]  # fmt: skip
    if log:
        health_env = {**env, "EVENTYARD_ATTEMPTS__URL": f"sqlite:///{config.workdir}/attempts.db"}
        https.append(port())
        health = ["cli.main", "run", "health", "--port", str(https[-1])]
        publishers.append(spawn("deliver-health", health, config.workdir, health_env))
    procs = [receiver, *publishers]
    try:
        for http in https:
            await wait_ready(f"http://127.0.0.1:{http}", procs)
        return await measured(receiver_dir, publishers, procs, count, seconds)
    finally:
        await stop_all(procs)
        await purge(connection, *queues(integrations, settings))


async def deliver(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Interleaved rounds of raw delivery and the publisher."""
    events = OrderEvents()
    count = config.messages
    seconds = config.deliver_seconds

    async def raw() -> Measurement:
        receiver_dir = config.workdir / "deliver-raw"
        progress.reset(receiver_dir)
        queue = "bench.raw-deliver"
        async with connection.channel() as channel:
            await channel.declare_queue(
                queue, durable=True, arguments=work_queue_arguments(WorkQueue(queue), 10)
            )
        await fill(connection, queue, lambda _: events.message(), count)
        receiver_port = port()
        receiver = spawn("deliver-receiver", ["bench.workers.receiver", str(receiver_port), "ok"],
                         config.workdir, progress_env(receiver_dir))  # fmt: skip
        worker = spawn(
            "raw-deliver",
            ["bench.workers.raw_deliver", config.broker_url, queue,
             f"http://127.0.0.1:{receiver_port}/hook", "--prefetch", str(CONCURRENCY),
             "--uvloop"],
            config.workdir,
        )  # fmt: skip
        try:
            return await measured(receiver_dir, [worker], [receiver, worker], count, seconds)
        finally:
            await stop_all([receiver, worker])
            await purge(connection, queue)

    async def yard() -> Measurement:
        return await publisher_round(config, connection, processes=1)

    async def yard_logged() -> Measurement:
        return await publisher_round(config, connection, processes=1, log=True)

    contestants: dict[str, Callable[[], Awaitable[Measurement]]] = {
        RAW: raw,
        YARD: yard,
        LOGGED: yard_logged,
    }
    results = await interleave(config.rounds, contestants)
    section = Section(9, "deliver", "Delivery to one destination")
    section.rows = [
        *rows_from(results, "rate", baseline=RAW, label="deliveries/s"),
        *rows_from(results, "cpu_us", baseline=RAW, label="CPU µs per delivery"),
    ]
    ratio = section.ratio_of(YARD, RAW, "deliveries/s")
    logged = section.ratio_of(LOGGED, YARD, "deliveries/s")
    cpu = next((r.median for r in section.rows if r.contestant == YARD and "CPU" in r.metric),
               None)  # fmt: skip
    section.targets = [
        at_least(
            f"publisher >= {RATE_AT_LEAST}x raw delivery's rate (stretch 0.8x)",
            ratio,
            RATE_AT_LEAST,
        ),
        at_most(
            f"publisher CPU per delivery <= {CPU_AT_MOST_US} µs, fan-out step included",
            cpu,
            CPU_AT_MOST_US,
            "µs",
        ),
        at_least(
            f"the publisher with the attempts log on >= {LOGGED_AT_LEAST}x its rate with it off",
            logged,
            LOGGED_AT_LEAST,
        ),
    ]
    section.notes.append(
        f"{count:,} events pre-filled per round; each round's window opens at the first delivery "
        f"and closes when they are delivered or after {seconds:.0f} s; concurrency/prefetch "
        f"{CONCURRENCY}; one local receiver answering 200; both on uvloop; CPU is the "
        "contestant's process only (the receiver and the broker are not counted)"
    )
    return section
