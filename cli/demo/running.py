"""What the services already running carry, read from them rather than assumed: queues, ladder."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractConnection

from shared.config import IntegrationsFile
from shared.errors import EventyardError
from shared.gateway import Gateway
from shared.parking import QueueCounter
from shared.topology import RETRY_PREFIX, Topology

QUEUE, INTEGRATION = "queue:", "integration:"
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}  # "ms" is tried before "s"
HEALTH_FIRST_ROUND_SECONDS = 15.0  # how long a health service just started may take to look
START_OWN = "stop them and run `eventyard demo`, which starts its own"


class DemoError(EventyardError):
    """The demo cannot run against what it found; the message says what to run instead."""


@dataclass(frozen=True)
class Running:
    """The topology the health service watches, which is the one the running services declared."""

    queues: frozenset[str]
    integrations: frozenset[str]
    delays: tuple[float, ...]  # the ladder, shortest step first

    @classmethod
    def from_health(cls, components: dict[str, Any]) -> Running:
        """From the components of `GET /health`: `queue:NAME` and `integration:NAME`."""
        names = {n.removeprefix(QUEUE) for n in components if n.startswith(QUEUE)}
        steps = {n: d for n in names if (d := ladder_delay(n)) is not None}
        return cls(
            frozenset(names - steps.keys()),
            frozenset(n.removeprefix(INTEGRATION) for n in components if n.startswith(INTEGRATION)),
            tuple(sorted(set(steps.values()))),
        )

    def lacks(self, topology: Topology, integrations: IntegrationsFile) -> list[str]:
        """What the demo's orders need that the running services do not have."""
        needed = integrations.integrations
        return [
            *(f"[integrations.{n}]" for n in needed if n not in self.integrations),
            *(f"queue {q.name}" for q in topology.queues if q.name not in self.queues),
        ]


def ladder_delay(name: str) -> float | None:
    """The delay a retry step's name states (`retry.500ms` → 0.5, `retry.2m` → 120), or None."""
    if not name.startswith(RETRY_PREFIX):
        return None
    amount = name.removeprefix(RETRY_PREFIX)
    for unit, seconds in UNIT_SECONDS.items():
        number = amount.removesuffix(unit)
        if number != amount and number.isdigit():
            return int(number) * seconds
    return None


async def read_running(gateway: Gateway, within: float) -> Running | None:
    """What the health service reports once it has looked; None if it does not say."""
    deadline = time.monotonic() + within
    while True:
        try:
            report = (await gateway.request("health", "GET", "/health")).json()
        except (EventyardError, ValueError):
            return None
        if not isinstance(report, dict) or not isinstance(report.get("components"), dict):
            return None
        if report.get("checked_at"):  # null until its first round is done
            return Running.from_health(report["components"])
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.3)


async def unconsumed(connection: AbstractConnection, topology: Topology) -> list[str]:
    """The topology's work queues that nobody consumes on this broker (or that are missing)."""
    counter = QueueCounter(connection)
    try:
        found = {q.name: await counter.count(q.name) for q in topology.queues}
    finally:
        await counter.close()
    return [name for name, count in found.items() if count is None or count[1] == 0]


async def running_topology(
    gateway: Gateway,
    connection: AbstractConnection,
    *,
    own: Topology,
    integrations: IntegrationsFile,
    services: str,
    broker: str,
) -> Topology:
    """The demo's queues on the running services' own ladder; DemoError if orders can't flow."""
    running = await read_running(gateway, within=HEALTH_FIRST_ROUND_SECONDS)
    lacking = running.lacks(own, integrations) if running else []
    if lacking:
        raise DemoError(
            f"{services} run another integrations file than the demo's "
            f"(no {', '.join(lacking)}): {START_OWN}"
        )
    idle = await unconsumed(connection, own)
    if idle:
        raise DemoError(
            f"{services} do not consume {', '.join(idle)} on the broker at {broker}: they use "
            f"another broker, vhost or integrations file; {START_OWN}, or give it their "
            "EVENTYARD_BROKER_URL"
        )
    if running is None or not running.delays:
        return own  # the health service did not say: the demo's own ladder, where it exists
    return Topology(own.queues, running.delays, own.delivery_limit)


def ladder_text(topology: Topology, shown: int = 4) -> str:
    """The first steps of the ladder by name: `retry.5s, retry.30s, retry.2m, retry.10m, …`."""
    steps = list(dict.fromkeys(topology.ladder))
    return ", ".join(steps[:shown]) + (", …" if len(steps) > shown else "")
