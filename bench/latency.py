"""Comparison 5: publish->handled latency at a steady rate, eventyard step vs raw aio-pika.

One publisher (the bench process: persistent, confirmed, open loop at the rate, confirms awaited
in the background so a slow confirm never delays the next send) stamps each message with
`time.monotonic()` just before publishing; the consumer process records the difference when its
handler runs. The same messages, queue type and prefetch for both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractConnection

from bench import progress
from bench.consume import DELIVERY_LIMIT
from bench.core import BenchConfig, Measurement, Row, Section, at_most, interleave, percentile
from bench.infra import (
    SENT_HEADER,
    OrderEvents,
    Proc,
    confirm_channel,
    declare,
    progress_env,
    purge,
    spawn,
    stop_all,
    until_count,
)
from shared.topology import WorkQueue, work_queue_arguments

QUEUE = "bench.latency"
WARMUP = 50


async def steady(connection: AbstractConnection, events: OrderEvents, rate: int, n: int) -> None:
    """Publish `n` messages at `rate`/s, each stamped just before it is sent."""
    channel = await confirm_channel(connection)
    try:
        exchange = channel.default_exchange
        pending: set[asyncio.Task[object]] = set()
        started = time.monotonic()
        for i in range(n):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            message = events.message({SENT_HEADER: time.monotonic()})
            task = asyncio.create_task(exchange.publish(message, QUEUE))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    finally:
        await channel.close()


async def latency(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Each rate: eventyard and raw interleaved; p50/p99/p99.9 per round."""
    events = OrderEvents()
    await declare(connection, QUEUE, work_queue_arguments(WorkQueue(QUEUE), DELIVERY_LIMIT))
    directory = config.workdir / "latency-progress"
    env = {
        "EVENTYARD_BROKER_URL": config.broker_url,
        "EVENTYARD_PREFETCH": str(config.prefetch),
        "EVENTYARD_RETRY__DELIVERY_LIMIT": str(DELIVERY_LIMIT),
    }

    def contestant(start: Callable[[], Proc], rate: int) -> Callable[[], Awaitable[Measurement]]:
        async def round_() -> Measurement:
            n = max(200, int(rate * config.latency_seconds))
            progress.reset(directory)
            await purge(connection, QUEUE)
            proc = start()
            try:
                await steady(connection, events, 20, 1)  # consuming once this arrives
                await until_count(directory, 1, [proc], within=60)
                await steady(connection, events, rate, WARMUP + n)
                totals = await until_count(directory, 1 + WARMUP + n, [proc], within=60)
            finally:
                await stop_all([proc])
            samples = [s * 1000 for s in progress.read(directory, samples=True).samples]
            samples = samples[1 + WARMUP :] if totals.count else []
            return {
                "p50": percentile(samples, 0.5),
                "p99": percentile(samples, 0.99),
                "p999": percentile(samples, 0.999),
            }

        return round_

    def eventyard_step() -> Proc:
        return spawn("latency-eventyard", ["bench.workers.step", QUEUE, "--latency"],
                     config.workdir, {**env, **progress_env(directory, 1_000_000)})  # fmt: skip

    def raw() -> Proc:
        args = ["bench.workers.raw", config.broker_url, QUEUE, "--prefetch",
                str(config.prefetch), "--latency",
                "--delivery-limit", str(DELIVERY_LIMIT)]  # fmt: skip
        return spawn("latency-raw", args, config.workdir, progress_env(directory, 1_000_000))

    section = Section(5, "latency", "Latency")
    for rate in config.latency_rates:
        results = await interleave(
            config.rounds,
            {"raw aio-pika": contestant(raw, rate), "eventyard": contestant(eventyard_step, rate)},
        )
        for metric, label in (("p50", "p50 ms"), ("p99", "p99 ms"), ("p999", "p99.9 ms")):
            for name in ("raw aio-pika", "eventyard"):
                section.rows.append(
                    Row(f"{name} @ {rate}/s", label, results[name][metric],
                        None if name == "raw aio-pika" else f"raw aio-pika @ {rate}/s", 2)
                )  # fmt: skip
        ratio = section.ratio_of(f"eventyard @ {rate}/s", f"raw aio-pika @ {rate}/s", "p99 ms")
        section.targets.append(at_most(f"eventyard p99 <= 2x raw's at {rate} msg/s", ratio, 2.0))
    section.notes.append(
        f"{config.latency_seconds:g} s of steady load per round after {WARMUP} warm-up "
        f"messages; persistent messages into a quorum queue, prefetch {config.prefetch}; "
        "percentiles per round, then the median over rounds"
    )
    return section
