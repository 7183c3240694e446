"""The yard's rates over the last minutes and its breakers' states, read off each service's own
`/metrics` every few seconds: what the console's live page shows without a second Prometheus.

Counters are sampled, not pushed: a sample keeps the few totals the page shows (per service),
and the breaker gauges as they were read. A restarted service's counters start again from
zero; what it counted since is all new.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from shared.errors import EventyardError
from shared.gateway import Gateway
from shared.gateway.breaker import STATE_VALUES

log = logging.getLogger(__name__)

# (family as the parser names it, label to match or None, label value) -> the series shown
SERIES: dict[str, tuple[str, str | None, str | None]] = {
    "handled": ("eventyard_messages_consumed", "outcome", "acked"),
    "retried": ("eventyard_messages_consumed", "outcome", "retried"),
    "parked": ("eventyard_messages_consumed", "outcome", "parked"),
    "published": ("eventyard_messages_published", None, None),
    "webhooks": ("eventyard_intake_requests", None, None),
}
# The same, by family: what each family read feeds.
_WANTED: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
for _series, (_family, _label, _value) in SERIES.items():
    _WANTED[_family].append((_series, _label, _value))
BREAKER = "eventyard_breaker_state"
BREAKER_STATES = {float(value): state for state, value in STATE_VALUES.items()}
SPARK_POINTS = 60

Totals = dict[tuple[str, str], float]  # (service, series) -> total


@dataclass(frozen=True)
class Sample:
    """What the services' counters and breakers read at one moment."""

    at: float
    totals: Totals
    breakers: dict[str, str]


@dataclass(frozen=True)
class ServiceRates:
    """One service's rates per second: over the last minute, the last five, and a sparkline
    of the handled rate between consecutive samples (oldest first)."""

    service: str
    last_minute: dict[str, float]
    last_five: dict[str, float]
    handled: list[float] = field(default_factory=list)


class LiveRates:
    """Samples every service's `/metrics`; keeps `window` seconds of samples."""

    def __init__(
        self,
        gateway: Gateway,
        endpoints: Sequence[str],
        *,
        every: float = 5.0,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self._endpoints = list(endpoints)
        self.every = every
        self._samples: deque[Sample] = deque(maxlen=max(2, int(window / every) + 1))
        self._clock = clock

    async def sample(self) -> None:
        """Read every service once and keep what they said."""
        scraped = await asyncio.gather(*(self._scrape(e) for e in self._endpoints))
        totals: Totals = {}
        breakers: dict[str, str] = {}
        for found in scraped:
            if found is None:
                continue
            service_totals, service_breakers = found
            totals.update(service_totals)
            for name, state in service_breakers.items():  # the worst any process reports
                if _rank(state) >= _rank(breakers.get(name, "closed")):
                    breakers[name] = state
        self._samples.append(Sample(self._clock(), totals, breakers))

    async def run(self) -> None:
        """Sample every `every` seconds until cancelled."""
        while True:
            with contextlib.suppress(Exception):  # one failed read: the next sample tries again
                await self.sample()
            await asyncio.sleep(self.every)

    def breakers(self) -> dict[str, str]:
        """Each endpoint's breaker as last read (closed, half-open, open)."""
        return dict(self._samples[-1].breakers) if self._samples else {}

    def rates(self) -> list[ServiceRates]:
        """Per service, its rates over the last minute and the last five, with a sparkline."""
        if len(self._samples) < 2:
            return []
        services = sorted({service for service, _ in self._samples[-1].totals})
        minute, five = self._within(60.0), self._within(300.0)
        spark = list(self._samples)[-(SPARK_POINTS + 1) :]
        return [
            ServiceRates(
                service,
                {s: _rate(minute, service, s) for s in SERIES},
                {s: _rate(five, service, s) for s in SERIES},
                [_rate(pair, service, "handled") for pair in itertools.pairwise(spark)],
            )
            for service in services
        ]

    def _within(self, seconds: float) -> list[Sample]:
        """The samples of the last `seconds` (half a sampling interval of slack)."""
        newest = self._samples[-1].at
        return [s for s in self._samples if newest - s.at <= seconds + self.every / 2]

    async def _scrape(self, endpoint: str) -> tuple[Totals, dict[str, str]] | None:
        try:
            response = await self._gateway.request(endpoint, "GET", "/metrics")
            return read_metrics(response.text)
        except (EventyardError, ValueError):
            return None


def read_metrics(text: str) -> tuple[Totals, dict[str, str]]:
    """The series the live page shows, per service, and the breaker states, from one exposition."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    breakers: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        if family.name == BREAKER:
            for sample in family.samples:
                name = sample.labels.get("integration", "")
                breakers[name] = BREAKER_STATES.get(sample.value, "unknown")
            continue
        for series, label, value in _WANTED.get(family.name, ()):
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                if label is not None and sample.labels.get(label) != value:
                    continue
                service = sample.labels.get("service") or "intake"
                totals[service, series] += sample.value
    return dict(totals), breakers


def _rate(samples: Sequence[Sample], service: str, series: str) -> float:
    """Per second over `samples` (oldest first), summed interval by interval: a service that
    restarted between two samples counts from zero, so what it shows then is all new."""
    seconds = samples[-1].at - samples[0].at if samples else 0.0
    if seconds <= 0:
        return 0.0
    key = (service, series)
    counted = 0.0
    for old, new in itertools.pairwise(samples):
        now, then = new.totals.get(key, 0.0), old.totals.get(key, 0.0)
        counted += now - then if now >= then else now
    return counted / seconds


_RANKS: dict[str, int] = {str(state): value for state, value in STATE_VALUES.items()}


def _rank(state: str) -> int:
    return _RANKS.get(state, 0)


def sparkline(values: Sequence[float], width: int = 240, height: int = 32) -> str:
    """The points of an SVG polyline for `values` (highest at the top; all zero: flat)."""
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}" for i, v in enumerate(values)
    )
