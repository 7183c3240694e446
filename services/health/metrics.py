"""The health service's gauges: what the broker holds and how each component is."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram

from shared.metrics import PREFIX


class HealthMetrics:
    """Queue depths, consumers, parked counts, backlog and parked ages, component status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge(
            f"{PREFIX}_queue_depth", "Messages ready in a work queue.", ["queue"], registry=registry
        )
        self.consumers = Gauge(
            f"{PREFIX}_queue_consumers",
            "Consumers attached to a work queue.",
            ["queue"],
            registry=registry,
        )
        self.parked = Gauge(
            f"{PREFIX}_parked_depth",
            "Messages in a work queue's parked queue.",
            ["queue"],
            registry=registry,
        )
        self.backlog_age = Gauge(
            f"{PREFIX}_queue_backlog_age_seconds",
            "How long a work queue has held messages without once being seen empty (a lower "
            "bound on the oldest message's age; 0 when empty).",
            ["queue"],
            registry=registry,
        )
        self.parked_age = Gauge(
            f"{PREFIX}_parked_oldest_age_seconds",
            "Age of the oldest parked message of a work queue (since its last failure).",
            ["queue"],
            registry=registry,
        )
        self.component = Gauge(
            f"{PREFIX}_component_health",
            "0 healthy, 1 degraded, 2 unhealthy, per checked component.",
            ["component"],
            registry=registry,
        )
        self.round_seconds = Histogram(
            f"{PREFIX}_health_round_duration_seconds",
            "Time one round of concurrent checks took.",
            registry=registry,
        )
