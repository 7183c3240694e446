"""Comparison 8: 1 vs 2 processes of a consumer step, of the publisher, and of intake.

- consume: the same no-op eventyard step in 1 and 2 processes, with the broker's CPU.
- publisher: 1 and 2 publisher processes (EVENTYARD_REPLICAS=2, so each allows half of the
  destination's rate limit) delivering one backlog to one receiver (`bench.deliver`).
- intake: `eventyard run intake` and `eventyard run intake --workers 2` (one port, SO_REUSEPORT,
  the local Redis as the shared dedupe store) at their peak under the same load (`bench.intake`).
On this 2-core machine the broker, the load generator and the contestants share the cores, so
a second process shows what the machine has left, not what a second machine would add.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractConnection

from bench.consume import ConsumeBench
from bench.core import BenchConfig, Measurement, Section, Target, interleave, rows_from
from bench.deliver import publisher_round
from bench.http_load import SignedBatch, peak
from bench.infra import OrderEvents, purge, stop_all
from bench.intake import PEAK_HEADROOM, SECRET, start_intake, webhook_body
from bench.publish import SINK, prepare

Round = Callable[[], Awaitable[Measurement]]


async def scale_out(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Each of the three, at 1 and 2 processes, interleaved."""
    bench = ConsumeBench(config, connection)
    section = Section(8, "scaleout", "Scale-out")
    consume = await interleave(
        config.rounds,
        {
            "consume x1": bench.runner(bench.eventyard(1)),
            "consume x2": bench.runner(bench.eventyard(2)),
        },
    )
    section.rows += [
        *rows_from(consume, "rate", baseline="consume x1", label="msg/s"),
        *rows_from(consume, "broker_cpu", baseline="consume x1", label="broker CPU % of a core"),
        *rows_from(consume, "workers_cpu", baseline="consume x1", label="workers CPU % of a core"),
    ]

    def publisher(processes: int) -> Round:
        return lambda: publisher_round(config, connection, processes=processes)

    delivered = await interleave(
        config.rounds, {"publisher x1": publisher(1), "publisher x2": publisher(2)}
    )
    section.rows += rows_from(delivered, "rate", baseline="publisher x1", label="deliveries/s")

    events = OrderEvents()
    await prepare(connection, events.key)
    body = webhook_body(events)
    one, one_url = await start_intake(config)
    two, two_url = await start_intake(config, workers=2)

    def intake(url: str) -> Round:
        async def round_() -> Measurement:
            batch = SignedBatch(SECRET, body, int(config.http_seconds * PEAK_HEADROOM) + 1000)
            result = await peak(url, batch, seconds=config.http_seconds,
                                connections=config.connections, workdir=config.workdir)  # fmt: skip
            await purge(connection, SINK)
            return {"rate": result.rate}

        return round_

    try:
        accepted = await interleave(
            config.rounds, {"intake x1": intake(one_url), "intake --workers 2": intake(two_url)}
        )
    finally:
        await stop_all([one, two])
    section.rows += rows_from(accepted, "rate", baseline="intake x1", label="webhooks/s")
    for name, baseline, metric in (
        ("consume x2", "consume x1", "msg/s"),
        ("publisher x2", "publisher x1", "deliveries/s"),
        ("intake --workers 2", "intake x1", "webhooks/s"),
    ):
        gain = section.ratio_of(name, baseline, metric)
        section.targets.append(
            Target(
                f"report {name} / {baseline} (no numeric target)",
                None,
                f"{gain:.2f}x" if gain is not None else "not measured",
                gain,
                sense="report",
            )
        )
    section.notes.append(
        "2 cores in all: broker + workers CPU near 200% means the machine, not the worker, is "
        "the ceiling; intake --workers 2 dedupes through the local Redis"
    )
    return section
