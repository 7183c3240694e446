"""intake's own metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from shared.metrics import PREFIX

FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IntakeMetrics:
    """Requests by source and outcome; verification and publish latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"{PREFIX}_intake_requests_total",
            "Webhook requests by source and outcome (accepted, duplicate, parked, or the "
            "rejection reason).",
            ["source", "outcome"],
            registry=registry,
        )
        self.verify_seconds = Histogram(
            f"{PREFIX}_intake_verify_duration_seconds",
            "Time to verify a webhook signature.",
            ["source"],
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.publish_seconds = Histogram(
            f"{PREFIX}_intake_publish_duration_seconds",
            "Time from a verified webhook to the broker's confirm.",
            ["source"],
            buckets=FAST_BUCKETS,
            registry=registry,
        )
        self.secret_used = Counter(
            f"{PREFIX}_intake_signature_secret_used_total",
            "Verified webhooks by which configured secret matched (0 = newest), for rotation.",
            ["source", "secret"],
            registry=registry,
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def count(self, source: str, outcome: str) -> None:
        """Count one request by its outcome."""
        self._child(self.requests, source, outcome).inc()

    def verified(self, source: str, seconds: float) -> None:
        """Record how long one signature check took."""
        self._child(self.verify_seconds, source).observe(seconds)

    def secret(self, source: str, index: int) -> None:
        """Count which configured secret matched."""
        self._child(self.secret_used, source, str(index)).inc()

    def published(self, source: str, seconds: float) -> None:
        """Record how long one publish took until the broker's confirm."""
        self._child(self.publish_seconds, source).observe(seconds)

    def _child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        # `labels()` takes a lock and checks the label names on every call: once per label set
        # is enough (sources and outcomes are few and fixed).
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child
