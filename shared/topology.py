"""Names and shapes of every exchange and queue; declared idempotently."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

EVENTS_EXCHANGE = "events"
INTAKE_QUEUE = "intake"
PARKED_SUFFIX = ".parked"
RETRY_PREFIX = "retry."


@dataclass(frozen=True)
class WorkQueue:
    """One consumer step's queue, bound to the routing keys it handles on `events`."""

    name: str
    bindings: tuple[str, ...] = ()
    service: str = ""
    # A fanout exchange of this name that delivers to this queue alone: producers may then be
    # given write permission on it and on nothing else (not the default exchange, which
    # reaches every queue, nor `events`). SECURITY.md has the permissions.
    door: str | None = None

    @property
    def parked(self) -> str:
        """The name of this queue's parked queue."""
        return self.name + PARKED_SUFFIX


@dataclass(frozen=True)
class Topology:
    """Every work queue and the retry ladder."""

    queues: tuple[WorkQueue, ...]
    delays: tuple[float, ...]
    delivery_limit: int
    ladder: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ladder", tuple(ladder_name(d) for d in self.delays))

    def queue(self, name: str) -> WorkQueue:
        """The work queue of this name; KeyError if the topology has none."""
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)


def ladder_name(delay_seconds: float) -> str:
    """`retry.500ms`, `retry.5s`, `retry.2m`, `retry.10h`: the delay is in the name."""
    millis = round(delay_seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % size == 0:
            return f"{RETRY_PREFIX}{millis // size}{unit}"
    return f"{RETRY_PREFIX}{millis}ms"


def work_queue_arguments(queue: WorkQueue, delivery_limit: int) -> dict[str, Any]:
    """Quorum queue; a message redelivered past the limit is dead-lettered to its parked queue."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue.parked,
        # At-least-once dead-lettering needs both of these (RabbitMQ 3.10).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def ladder_queue_arguments(delay_seconds: float) -> dict[str, Any]:
    """Hold each message for the delay, then dead-letter it by its own routing key."""
    # No dead-letter routing key: the message keeps the one it was published with, which is
    # the name of the queue it came from, so the default exchange returns it exactly there.
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": round(delay_seconds * 1000),
        "x-dead-letter-exchange": "",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


PARKED_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


async def declare(channel: AbstractChannel, topology: Topology) -> None:
    """Declare everything in the topology; safe to repeat while services run."""
    events = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    for delay, name in zip(topology.delays, topology.ladder, strict=True):
        exchange = await channel.declare_exchange(name, ExchangeType.FANOUT, durable=True)
        step = await channel.declare_queue(
            name, durable=True, arguments=ladder_queue_arguments(delay)
        )
        await step.bind(exchange, routing_key="")
    for queue in topology.queues:
        await declare_work_queue(channel, queue, topology.delivery_limit, events)


async def declare_work_queue(
    channel: AbstractChannel,
    queue: WorkQueue,
    delivery_limit: int,
    events: aio_pika.abc.AbstractExchange,
) -> None:
    """Declare one work queue, its parked queue and its bindings."""
    await channel.declare_queue(queue.parked, durable=True, arguments=PARKED_ARGUMENTS)
    declared = await channel.declare_queue(
        queue.name, durable=True, arguments=work_queue_arguments(queue, delivery_limit)
    )
    for routing_key in queue.bindings:
        await declared.bind(events, routing_key=routing_key)
    if queue.door is not None:
        door = await channel.declare_exchange(queue.door, ExchangeType.FANOUT, durable=True)
        await declared.bind(door, routing_key="")


def merge(groups: Iterable[Sequence[WorkQueue]]) -> tuple[WorkQueue, ...]:
    """All queues of all services, each name once."""
    seen: dict[str, WorkQueue] = {}
    for group in groups:
        for queue in group:
            seen.setdefault(queue.name, queue)
    return tuple(seen.values())
