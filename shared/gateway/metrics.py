"""The gateway's Prometheus metrics; every label is bounded (names, methods, classes — no URLs)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.gateway.breaker import STATE_VALUES, BreakerState
from shared.metrics import PREFIX

# Outbound calls take milliseconds to the per-attempt timeout (15 s by default).
OUTBOUND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)
KNOWN_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"})


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, … or `none` when no answer came."""
    return "none" if status is None else f"{status // 100}xx"


class GatewayMetrics:
    """Outbound request, credential and breaker metrics on the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"{PREFIX}_outbound_requests_total",
            "Outbound HTTP attempts, by endpoint, method, status class and outcome.",
            ["integration", "method", "status_class", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_outbound_request_duration_seconds",
            "Time one outbound HTTP attempt took, from sending to the full answer.",
            ["integration"],
            buckets=OUTBOUND_BUCKETS,
            registry=registry,
        )
        self.credential_used = Counter(
            f"{PREFIX}_gateway_credential_used_total",
            "Successful (2xx/3xx) answers, by the index of the credential (0 = newest) used.",
            ["integration", "credential"],
            registry=registry,
        )
        self.breaker_state = Gauge(
            f"{PREFIX}_breaker_state",
            "Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open.",
            ["integration"],
            registry=registry,
        )

        # Bound children, found by a dict lookup: `labels()` validates and locks on every call.
        # Bounded: endpoints are configured, the rest of the key is a small closed set.
        self._attempts: dict[tuple[str, str, str, str], Counter] = {}
        self._durations: dict[str, Histogram] = {}

    def watch_breaker(self, endpoint: str, state: Callable[[], BreakerState]) -> None:
        """Report the breaker's state as of each scrape (half-open begins with time alone)."""
        self.breaker_state.labels(endpoint).set_function(lambda: STATE_VALUES[state()])

    def attempt(
        self, endpoint: str, method: str, status: int | None, outcome: str, seconds: float | None
    ) -> None:
        """Count one attempt; its duration only when a request actually went out."""
        key = (endpoint, method, status_class(status), outcome)
        counter = self._attempts.get(key)
        if counter is None:
            label = method if method in KNOWN_METHODS else "OTHER"
            counter = self._attempts[key] = self.requests.labels(endpoint, label, *key[2:])
        counter.inc()
        if seconds is not None:
            timer = self._durations.get(endpoint)
            if timer is None:
                timer = self._durations[endpoint] = self.duration.labels(endpoint)
            timer.observe(seconds)
