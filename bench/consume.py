"""Comparisons 1 (consume) and 8 (scale-out): draining the same persistent backlog.

Each round fills the contestant's quorum queue with the same number of persistent messages
(its own format: a CloudEvent for eventyard and raw aio-pika, the framework's own envelope around
the same event for Dramatiq and Celery), then starts the contestant's worker process(es) and
times the first to the last handled message as the handlers report them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, DeliveryMode

from bench import progress
from bench.core import (
    BenchConfig,
    Measurement,
    Section,
    at_most,
    interleave,
    ratio_target,
    rows_from,
)
from bench.infra import (
    CpuMeter,
    OrderEvents,
    Proc,
    broker_process,
    declare,
    fill,
    progress_env,
    purge,
    spawn,
    stop_all,
    until_count,
)
from bench.workers import celery_worker, dramatiq_worker
from shared.event_loop import SPEEDUPS_VARIABLE
from shared.topology import WorkQueue, work_queue_arguments

QUEUE = "bench.consume"
DRAMATIQ_QUEUE = "bench.dramatiq"
CELERY_QUEUE = "bench.celery"
DELIVERY_LIMIT = 10  # every bench work queue, declared by the bench and its workers alike
DRAMATIQ_DEFAULT = "dramatiq 1 proc, prefetch 16"
DRAMATIQ_SAME = "dramatiq 1 proc, same prefetch"
RAW_UVLOOP = "raw aio-pika on uvloop"
CPU_METRIC = "worker CPU µs per msg"
EVENTYARD_ASYNCIO = "eventyard without speedups (asyncio loop)"
FASTSTREAM_KIT = "faststream-kit (shared.faststream)"


@dataclass(frozen=True)
class Contestant:
    """How to fill a contestant's queue and start its worker processes."""

    queue: str
    arguments: dict[str, Any]
    message: Callable[[int], aio_pika.Message]
    start: Callable[[], Sequence[Proc]]


class ConsumeBench:
    """Fills, starts, times and cleans up one contestant per call."""

    def __init__(self, config: BenchConfig, connection: AbstractConnection) -> None:
        self.config = config
        self.connection = connection
        self.url = config.broker_url
        self.dir = config.workdir / "consume-progress"
        self.events = OrderEvents()
        self.broker = broker_process()
        self._celery_app = celery_worker.make_app(self.url, CELERY_QUEUE)

    # ---- messages in each contestant's own format

    def event_message(self, _: int) -> aio_pika.Message:
        """The CloudEvent as eventyard publishes it."""
        return self.events.message()

    def dramatiq_message(self, _: int) -> aio_pika.Message:
        """Dramatiq's JSON envelope around the same event, as its broker would enqueue it."""
        import dramatiq  # noqa: PLC0415 - only when Dramatiq is compared

        body: bytes = dramatiq.Message(
            queue_name=DRAMATIQ_QUEUE,
            actor_name=dramatiq_worker.ACTOR,
            args=(self.events.payload,),
            kwargs={},
            options={},
        ).encode()
        return aio_pika.Message(body, delivery_mode=DeliveryMode.PERSISTENT)

    def celery_message(self, _: int) -> aio_pika.Message:
        """Celery's task message (protocol 2) around the same event, as `apply_async` sends it."""
        from kombu.serialization import dumps  # noqa: PLC0415 - only when Celery is compared

        task_id = str(uuid.uuid4())
        task = self._celery_app.amqp.as_task_v2(
            task_id, celery_worker.TASK, args=(self.events.payload,), kwargs={}
        )
        content_type, encoding, body = dumps(task.body, serializer="json")
        return aio_pika.Message(
            body.encode() if isinstance(body, str) else body,
            headers=task.headers,
            content_type=content_type,
            content_encoding=encoding,
            correlation_id=task_id,
            delivery_mode=DeliveryMode.PERSISTENT,
            priority=0,
        )

    # ---- worker processes

    def _env(self) -> dict[str, str]:
        return {
            **progress_env(self.dir),
            "EVENTYARD_BROKER_URL": self.url,
            "EVENTYARD_PREFETCH": str(self.config.prefetch),
            # The queue is declared with this limit; the worker must declare it the same way.
            "EVENTYARD_RETRY__DELIVERY_LIMIT": str(DELIVERY_LIMIT),
            "dramatiq_queue_prefetch": str(self.config.prefetch),
        }

    def eventyard(
        self, processes: int = 1, tree: Path | None = None, *, plain: bool = False
    ) -> Contestant:
        """The eventyard step, in `processes` processes (from another source tree: `tree`)."""
        env = self._env()
        if plain:
            env[SPEEDUPS_VARIABLE] = "off"

        def start() -> Sequence[Proc]:
            return [
                spawn(
                    f"eventyard-step-{n}",
                    ["bench.workers.step", QUEUE],
                    self.config.workdir,
                    env,
                    tree=tree,
                )
                for n in range(processes)
            ]

        arguments = work_queue_arguments(WorkQueue(QUEUE), DELIVERY_LIMIT)
        return Contestant(QUEUE, arguments, self.event_message, start)

    def raw(self, *, uvloop: bool = False) -> Contestant:
        """Raw aio-pika, same queue, same prefetch (on asyncio's loop, or uvloop's)."""

        def start() -> Sequence[Proc]:
            args = ["bench.workers.raw", self.url, QUEUE, "--prefetch", str(self.config.prefetch),
                    "--delivery-limit", str(DELIVERY_LIMIT)]  # fmt: skip
            if uvloop:
                args.append("--uvloop")
            return [spawn("raw-consumer", args, self.config.workdir, self._env())]

        arguments = work_queue_arguments(WorkQueue(QUEUE), DELIVERY_LIMIT)
        return Contestant(QUEUE, arguments, self.event_message, start)

    def faststream_kit(self) -> Contestant:
        """The FastStream kit's subscriber (informational: no target), same queue, same prefetch."""

        def start() -> Sequence[Proc]:
            args = ["bench.workers.faststream_kit", QUEUE]
            return [spawn("faststream-kit", args, self.config.workdir, self._env())]

        arguments = work_queue_arguments(WorkQueue(QUEUE), DELIVERY_LIMIT)
        return Contestant(QUEUE, arguments, self.event_message, start)

    def dramatiq(self, *, same_prefetch: bool) -> Contestant:
        """A Dramatiq actor, one process with 8 threads; its own default prefetch (16) or ours."""

        def start() -> Sequence[Proc]:
            args = ["bench.workers.dramatiq_worker", self.url, DRAMATIQ_QUEUE]
            env = self._env()
            if not same_prefetch:
                env.pop("dramatiq_queue_prefetch")
            return [spawn("dramatiq", args, self.config.workdir, env)]

        arguments = dramatiq_worker.queue_arguments(DRAMATIQ_QUEUE)
        return Contestant(DRAMATIQ_QUEUE, arguments, self.dramatiq_message, start)

    def celery(self, pool: str, concurrency: int) -> Contestant:
        """A Celery task with the solo or prefork pool."""

        def start() -> Sequence[Proc]:
            args = [
                "bench.workers.celery_worker",
                self.url,
                CELERY_QUEUE,
                pool,
                str(concurrency),
                "--prefetch",
                str(self.config.prefetch),
            ]
            return [spawn(f"celery-{pool}", args, self.config.workdir, self._env())]

        arguments = dict(celery_worker.QUEUE_ARGUMENTS)
        return Contestant(CELERY_QUEUE, arguments, self.celery_message, start)

    # ---- one round

    async def run(self, contestant: Contestant) -> Measurement:
        """Fill, drain, time; returns msg/s and the CPU of workers and broker meanwhile."""
        count = self.config.messages
        progress.reset(self.dir)
        await declare(self.connection, contestant.queue, contestant.arguments)
        await purge(self.connection, contestant.queue)
        await fill(self.connection, contestant.queue, contestant.message, count)
        procs = contestant.start()
        try:
            await until_count(self.dir, 1, procs, within=120)
            meter = CpuMeter(procs, self.broker)
            meter.start()
            totals = await until_count(self.dir, count, procs, within=60 + count / 100)
            span = meter.stop()
        finally:
            await stop_all(procs)
        await purge(self.connection, contestant.queue)
        # CPU per message is what the client costs whichever side (broker or client) is the
        # ceiling in a given round; the rate alone hides the client's cost when it is the broker.
        cpu_per_message = meter.workers / 100 * span / max(1, count - 1) * 1e6
        return {
            "rate": totals.rate,
            "broker_cpu": meter.broker,
            "workers_cpu": meter.workers,
            "cpu_us": cpu_per_message,
        }

    def runner(self, contestant: Contestant) -> Callable[[], Awaitable[Measurement]]:
        """A zero-argument round for `interleave`."""
        return lambda: self.run(contestant)


async def consume(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Comparison 1: eventyard step vs raw aio-pika vs Dramatiq vs Celery."""
    bench = ConsumeBench(config, connection)
    # Like for like: eventyard runs on uvloop (the speedups extra), so its baseline is raw
    # aio-pika on uvloop; the stdlib-loop pair is shown beside it.
    contestants = {
        RAW_UVLOOP: bench.runner(bench.raw(uvloop=True)),
        "eventyard": bench.runner(bench.eventyard()),
        "raw aio-pika": bench.runner(bench.raw()),
        EVENTYARD_ASYNCIO: bench.runner(bench.eventyard(plain=True)),
        FASTSTREAM_KIT: bench.runner(bench.faststream_kit()),
    }
    if config.peers:  # --quick too: every ratio is computed, on small sizes
        contestants[DRAMATIQ_SAME] = bench.runner(bench.dramatiq(same_prefetch=True))
        contestants["celery solo"] = bench.runner(bench.celery("solo", 1))
        contestants[DRAMATIQ_DEFAULT] = bench.runner(bench.dramatiq(same_prefetch=False))
        contestants["celery prefork 2"] = bench.runner(bench.celery("prefork", 2))
    if config.against:
        contestants[f"eventyard {config.against_label}"] = bench.runner(
            bench.eventyard(tree=config.against)
        )
    results = await interleave(config.rounds, contestants)
    section = Section(1, "consume", "Consume")
    section.rows = [
        *rows_from(results, "rate", baseline=RAW_UVLOOP, label="msg/s"),
        *rows_from(results, "cpu_us", baseline=RAW_UVLOOP, label=CPU_METRIC),
    ]
    ours = "eventyard"
    raw = section.ratio_of(ours, RAW_UVLOOP, "msg/s")
    cpu = section.ratio_of(ours, RAW_UVLOOP, CPU_METRIC)
    celery = [section.ratio_of(ours, c, "msg/s") for c in ("celery solo", "celery prefork 2")]
    section.targets = [
        ratio_target("eventyard >= 90% of raw aio-pika on the same loop (uvloop)", raw, 0.9),
        at_most(
            "the same read as client cost: eventyard's CPU per message <= 1.11x raw's (uvloop)",
            cpu,
            round(1 / 0.9, 2),
        ),
        ratio_target(
            "eventyard >= 1.5x Dramatiq (1 process, its default prefetch 16)",
            section.ratio_of(ours, DRAMATIQ_DEFAULT, "msg/s"),
            1.5,
        ),
        ratio_target(
            f"eventyard >= 1.5x Dramatiq (1 process, prefetch {config.prefetch} like ours)",
            section.ratio_of(ours, DRAMATIQ_SAME, "msg/s"),
            1.5,
        ),
        ratio_target(
            "eventyard >= 2x Celery (solo and prefork 2)",
            min((c for c in celery if c is not None), default=None),
            2.0,
        ),
    ]
    section.notes.append(
        f"{config.messages:,} persistent messages per round in a quorum queue, ack after the "
        f"handler, prefetch {config.prefetch} for all but '{DRAMATIQ_DEFAULT}' (Dramatiq's "
        "default, 2 x 8 threads); Celery with acks_late and its prefetch multiplier set so the "
        f"worker prefetches {config.prefetch}; ratios are to raw aio-pika on uvloop "
        "(eventyard's loop), targets compare eventyard's median with each peer's"
    )
    section.notes.append(
        f"'{FASTSTREAM_KIT}': FastStream's consumer around the yard's consume path, for other "
        "services (docs/faststream.md); informational, no target"
    )
    return section
