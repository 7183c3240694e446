"""Cached queries that run on stale data: read off the services' own `/metrics`.

The answers a query serves live in the process that asks (order-followup for `crm.profile`);
each round, health reads `eventyard_query_answers_total` from every service's `/metrics` and
reports a query degraded when any answer since the last round was stale or the fallback.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence

from prometheus_client.parser import text_string_to_metric_families

from services.health.report import Finding
from shared.errors import EventyardError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.query import Served

Totals = defaultdict[tuple[str, str], float]  # (query, served) -> answers
ANSWERS = "eventyard_query_answers"  # the counter's family name (the parser drops `_total`)
MAX_METRICS_BYTES = 16 * 1024 * 1024


def metrics_policy(name: str, url: str, timeout: float) -> EndpointPolicy:
    """A gateway endpoint for one service's `/metrics`: our own, so private addresses are fine."""
    return EndpointPolicy(
        name=name,
        base_url=url,
        timeout=timeout,
        max_retries=0,
        allow_private_network=True,
        breaker_min_calls=1_000_000,  # a service that was down may be up at the next round
        max_response_bytes=MAX_METRICS_BYTES,
    )


class ReadWatcher:
    """Compares each round's answer counts with the last round's, per declared query."""

    def __init__(self, queries: Sequence[str], gateway: Gateway, endpoints: Sequence[str]) -> None:
        self._queries = list(queries)  # `<integration>.<query>`
        self._gateway = gateway
        self._endpoints = list(endpoints)
        self._last: Totals | None = None

    async def round(self) -> list[Finding]:
        """One finding per declared query (`read:<integration>.<query>`)."""
        scraped = await asyncio.gather(*(self._scrape(e) for e in self._endpoints))
        answered = [counts for counts in scraped if counts is not None]
        if not answered:
            reason = "no service answered /metrics: its answers cannot be watched"
            return [Finding(f"read:{q}", "degraded", reason) for q in self._queries]
        now: Totals = defaultdict(float)
        for counts in answered:
            for key, value in counts.items():
                now[key] += value
        last, self._last = self._last, now
        return [self._finding(query, now, last) for query in self._queries]

    def _finding(
        self,
        query: str,
        now: Mapping[tuple[str, str], float],
        last: Mapping[tuple[str, str], float] | None,
    ) -> Finding:
        component = f"read:{query}"
        if last is None:
            total = sum(v for (q, _), v in now.items() if q == query)
            return Finding(component, "healthy", f"watching ({total:.0f} answers so far)")
        delta = {s: _since(now.get((query, s), 0.0), last.get((query, s), 0.0)) for s in Served}
        total = sum(delta.values())
        details = {s.value: int(n) for s, n in delta.items()}
        stale, fallback = int(delta[Served.STALE]), int(delta[Served.FALLBACK])
        if stale or fallback:
            since = f"of {total:.0f} answers since the last look"
            reason = f"{stale} stale and {fallback} fallback {since}"
            return Finding(component, "degraded", reason, details)
        return Finding(component, "healthy", f"{total:.0f} answers since the last look", details)

    async def _scrape(self, endpoint: str) -> Totals | None:
        """(query, served) -> answers, from one service; None when it does not answer."""
        try:
            response = await self._gateway.request(endpoint, "GET", "/metrics")
            families = list(text_string_to_metric_families(response.text))
        except (EventyardError, ValueError):
            return None
        counts: Totals = defaultdict(float)
        for family in families:
            if family.name != ANSWERS:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    labels = sample.labels
                    key = f"{labels.get('integration')}.{labels.get('query')}"
                    counts[key, labels.get("served", "")] += sample.value
        return counts


def _since(now: float, last: float) -> float:
    # A restarted service starts its counters from zero: all it counted is new.
    return now - last if now >= last else now
