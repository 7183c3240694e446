"""publisher: fans events out to destinations, each on its own queue with its own pace."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from services.publisher.delivery import Deliverer, Destination
from services.publisher.fanout import destination_queue, fan_out
from services.publisher.metrics import PublisherMetrics
from services.publisher.status import destinations_route
from services.publisher.switches import Switches
from shared.config import IntegrationsFile, read_secret
from shared.consumer import Step
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "publisher"
FANOUT_QUEUE = "publisher.fanout"


def queues(integrations: IntegrationsFile) -> Sequence[WorkQueue]:
    """The fan-out queue (bound to every destination's patterns) and one queue per destination."""
    if not integrations.destinations:
        return []
    patterns = sorted({p for d in integrations.destinations.values() for p in d.events})
    return [
        WorkQueue(FANOUT_QUEUE, tuple(patterns), service=NAME),
        *(WorkQueue(destination_queue(name), service=NAME) for name in integrations.destinations),
    ]


async def wire(runtime: Runtime) -> Wiring:
    """One fan-out step, and one delivery step per destination with its own prefetch."""
    destinations = runtime.integrations.destinations
    if not destinations:
        return Wiring()
    metrics = PublisherMetrics(runtime.metrics.registry)
    switches = Switches(runtime.connection)
    steps = [
        Step(
            runtime.topology.queue(FANOUT_QUEUE),
            fan_out(destinations, runtime.emitter.confirmer, metrics),
        )
    ]
    for name, config in destinations.items():
        destination = Destination(name, config, tuple(read_secret(s) for s in config.secrets))
        handler = Deliverer(
            destination,
            gateway=runtime.gateway,
            switches=switches,
            metrics=metrics,
            redactor=runtime.redactor,
            ladder_length=len(runtime.topology.delays),
        )
        queue = runtime.topology.queue(destination_queue(name))
        steps.append(Step(queue, handler, prefetch=config.concurrency))
    return Wiring(
        steps=steps,
        routes=[destinations_route(destinations, runtime.gateway, runtime.connection)],
    )


DEFINITION = ServiceDefinition(
    NAME,
    8001,
    queues,
    wire,
    summary="Delivers events to partner webhooks, one queue and one pace per destination.",
    emits=(DeliverySucceededV1, DeliveryFailedV1),
)
