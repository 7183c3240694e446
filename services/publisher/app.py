"""publisher: delivers events to destinations, each on its own queue with its own pace."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.analytics import AnalyticsTrackedV1
from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from services.publisher.analytics import analytics_providers
from services.publisher.analytics.tracker import Tracker
from services.publisher.delivery import Deliverer, Destination
from services.publisher.fanout import destination_queue, legacy_fanout
from services.publisher.metrics import PublisherMetrics
from services.publisher.status import destinations_route
from services.publisher.switches import Switches
from shared.config import IntegrationsFile, read_secret
from shared.consumer import Reported, Step
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "publisher"


ANALYTICS_QUEUE = WorkQueue(f"{NAME}.analytics", (AnalyticsTrackedV1.key(),), service=NAME)
ANALYTICS_TIMEOUT_SECONDS = 10.0


def queues(integrations: IntegrationsFile) -> Sequence[WorkQueue]:
    """One queue per destination, bound to its patterns (the broker does the fan-out), and the
    analytics queue when an integration takes analytics events."""
    analytics = any(c.analytics for c in integrations.integrations.values())
    return [
        *(
            WorkQueue(destination_queue(name), tuple(config.events), service=NAME)
            for name, config in integrations.destinations.items()
        ),
        *([ANALYTICS_QUEUE] if analytics else []),
    ]


async def wire(runtime: Runtime) -> Wiring:
    """One delivery step per destination, with its own prefetch; the analytics step."""
    destinations = runtime.integrations.destinations
    providers = analytics_providers(runtime.integrations.integrations, runtime.gateway)
    if not destinations and not providers:
        return Wiring()
    metrics = PublisherMetrics(runtime.metrics.registry)
    steps: list[Step] = []
    if providers:
        tracker = Tracker(
            providers,
            metrics=metrics,
            redactor=runtime.redactor,
            timeout=ANALYTICS_TIMEOUT_SECONDS,
        )
        reported = Reported("command", "analytics")
        steps.append(
            Step(ANALYTICS_QUEUE, tracker, accepts=(AnalyticsTrackedV1,), reported=reported)
        )
    if not destinations:
        return Wiring(steps=steps)
    switches = Switches(runtime.connection)
    legacy = await legacy_fanout(
        runtime.connection, destinations, runtime.emitter.confirmer, metrics, NAME
    )
    if legacy is not None:
        steps.append(legacy)
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
        reported = Reported("delivery", name)
        steps.append(Step(queue, handler, prefetch=config.concurrency, reported=reported))
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
