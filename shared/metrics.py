"""The Prometheus metrics every service exports, under the `eventyard_` prefix."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "eventyard"

# Handler work is milliseconds to tens of seconds; end-to-end includes retry-ladder waits.
HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600, 36000)
# Event types are few (contracts, and one webhook family member per configured source); the
# cap keeps a label from growing with whatever else might ever reach it. Past it: OTHER.
MAX_EVENT_TYPES = 100
OTHER = "other"


class Metrics:
    """One registry per process, holding every eventyard metric that process exports."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            f"{PREFIX}_messages_consumed_total",
            "Messages a consumer step finished with, by outcome (acked, retried, parked).",
            ["service", "queue", "outcome"],
            registry=r,
        )
        self.retried = Counter(
            f"{PREFIX}_messages_retried_total",
            "Messages sent up the retry ladder, by the rung (retry.30s …) they went to.",
            ["service", "queue", "rung"],
            registry=r,
        )
        self.parked = Counter(
            f"{PREFIX}_messages_parked_total",
            "Messages parked, by reason class.",
            ["service", "queue", "reason"],
            registry=r,
        )
        self.handler_duration = Histogram(
            f"{PREFIX}_handler_duration_seconds",
            "Time from delivery to ack, retry or parking.",
            ["service", "queue"],
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        self.end_to_end = Histogram(
            f"{PREFIX}_end_to_end_latency_seconds",
            "Time from the event's CloudEvent `time` to its successful handling.",
            ["service", "queue"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._published = Counter(
            f"{PREFIX}_messages_published_total",
            "Events published to `events` and confirmed by the broker.",
            ["service", "event_type"],
            registry=r,
        )
        self._unrouted = Counter(
            f"{PREFIX}_messages_unrouted_total",
            "Events the broker returned because no queue was bound for them.",
            ["service", "event_type"],
            registry=r,
        )
        self.attempts = Counter(
            f"{PREFIX}_attempts_total",
            "Attempts reported to the attempts log, by fate (reported, dropped).",
            ["service", "fate"],
            registry=r,
        )
        self._children: dict[tuple[int, str], Counter] = {}
        self._labelled: dict[int, set[str]] = {}
        self.up = Gauge(
            f"{PREFIX}_service_ready",
            "1 while the service is connected to the broker and its consumers are attached.",
            ["service"],
            registry=r,
        )

    def count_published(self, event_type: str) -> None:
        """Count one confirmed publish."""
        self._child(self._published, event_type).inc()

    def count_unrouted(self, event_type: str) -> None:
        """Count one publish the broker returned as unroutable."""
        self._child(self._unrouted, event_type).inc()

    def _child(self, counter: Counter, event_type: str) -> Counter:
        # Label lookups take a lock and validate names; do that once per event type.
        key = (id(counter), event_type)
        child = self._children.get(key)
        if child is None:
            labelled = self._labelled.setdefault(id(counter), set())
            if len(labelled) >= MAX_EVENT_TYPES:
                key = (id(counter), OTHER)
                if (child := self._children.get(key)) is not None:
                    return child
                event_type = OTHER
            labelled.add(event_type)
            child = self._children[key] = counter.labels(self.service, event_type)
        return child
