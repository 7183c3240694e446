"""Comparison 6: the cost of messages waiting on the retry ladder for a dead destination.

All five services run as processes; the publisher has one destination whose port refuses every
connection, subscribed to an event no other service consumes (`order.warehouse_notified.v1`),
so the only work is the publisher's. The bench publishes the messages, waits until every one has
failed once and sits in the ladder queue (held by the broker, not by any worker) with every work
queue empty, then measures the CPU of each process over a few windows. No worker polls, so each
should be close to idle.
"""

from __future__ import annotations

import asyncio
import statistics

import aio_pika
from aio_pika.abc import AbstractConnection

from bench.core import BenchConfig, Row, Section, at_most
from bench.infra import CpuMeter, broker_process, depth, fill, port, wait_for
from bench.yard import yard
from contracts.orders import OrderWarehouseNotifiedV1
from shared.publishing import build_event, event_message
from shared.topology import EVENTS_EXCHANGE, ladder_name

WAITING_EVENT = OrderWarehouseNotifiedV1  # bound by nobody but the dead destination
WORK_QUEUES = ("publisher.dest.dead",)
HOLD_SECONDS = 600.0  # first ladder step: long enough that nothing returns while we measure
SETTLE = 2.0


async def waiting(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Fill, let everything fail onto the ladder, then measure each process's CPU."""
    count = config.waiting_messages
    integrations = {
        "destinations": {
            "dead": {
                "url": f"http://127.0.0.1:{port()}/hook",  # nothing listens there
                "events": [WAITING_EVENT.key()],
                "allow_private_network": True,
            }
        }
    }
    delays = [HOLD_SECONDS, 3600.0]
    ladder = ladder_name(HOLD_SECONDS)
    payload = WAITING_EVENT.model_json_schema()["examples"][0]

    def message() -> aio_pika.Message:
        event = build_event(WAITING_EVENT.model_validate(payload), source="bench")
        return event_message(event)

    env = {"EVENTYARD_RETRY__DELAYS": str(delays)}
    section = Section(6, "waiting", "Cost while waiting")
    async with yard(config, integrations, tag="waiting", env=env) as services:
        procs = [s.proc for s in services.values()]
        await fill(connection, WAITING_EVENT.key(), lambda _: message(), count,
                   exchange=EVENTS_EXCHANGE)  # fmt: skip

        async def parked_on_ladder() -> bool:
            if await depth(connection, ladder) < count:
                return False
            return not any([await depth(connection, q) for q in WORK_QUEUES])

        await wait_for(parked_on_ladder, within=60 + count / 20, every=0.5, procs=procs,
                       what=f"{count} messages on {ladder}")  # fmt: skip
        await asyncio.sleep(SETTLE / 4 if config.quick else SETTLE)
        per_service: dict[str, list[float]] = {name: [] for name in services}
        broker: list[float] = []
        for _ in range(config.rounds):
            meter = CpuMeter(procs, broker_process())
            meter.start()
            await asyncio.sleep(config.waiting_seconds)
            meter.stop()
            for name, cpu in zip(services, meter.each, strict=True):
                per_service[name].append(cpu)
            broker.append(meter.broker)
        waiting_now = await depth(connection, ladder)
    section.rows = [
        *(Row(name, "CPU % of a core", values, digits=2) for name, values in per_service.items()),
        Row("rabbitmq (for context)", "CPU % of a core", broker, digits=2),
    ]
    worst = max(statistics.median(v) for v in per_service.values())
    section.targets = [
        at_most("every eventyard process <= 1% of a core while messages wait", worst, 1.0, "%")
    ]
    section.notes.append(
        f"{count:,} {WAITING_EVENT.key()} waiting on {ladder} for a destination that refuses "
        "connections "
        f"({waiting_now:,} still there after measuring); {config.rounds} windows of "
        f"{config.waiting_seconds:g} s"
    )
    return section
