"""intake's own metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
