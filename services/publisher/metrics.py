"""publisher's own metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from shared.metrics import PREFIX


class PublisherMetrics:
    """Deliveries by destination and outcome, lost best-effort reports, fan-out copies, and
    analytics events by provider."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            f"{PREFIX}_deliveries_total",
            "Delivery attempts by destination and outcome (succeeded, transient, permanent, "
            "gone, disabled, best_effort_failed).",
            ["destination", "outcome"],
            registry=registry,
        )
        self.reports_lost = Counter(
            f"{PREFIX}_delivery_reports_lost_total",
            "Outcome events of best-effort deliveries the broker did not confirm (not retried).",
            ["destination"],
            registry=registry,
        )
        self.fanned_out = Counter(
            f"{PREFIX}_fanout_messages_total",
            "Delivery messages the fan-out put on a destination's queue.",
            ["destination"],
            registry=registry,
        )
        self.analytics = Counter(
            f"{PREFIX}_analytics_events_total",
            "Tracked events by analytics provider and outcome (sent, failed: counted, never "
            "retried).",
            ["provider", "outcome"],
            registry=registry,
        )
