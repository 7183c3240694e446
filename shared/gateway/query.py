"""Cached queries: every read of an integration answered from cache, within a timeout, or by its
fallback, never by waiting on a slow source.

A query is a named GET on an integration (`[integrations.<name>.reads.<query>]`). Its answer is,
in order of preference: a fresh cached copy (`hit`); a fresh call's JSON (`miss`); after the
call failed or outlasted the query's timeout, a copy expired less than `stale_for` seconds ago
(`stale`); else the declared fallback (`fallback`). A 404 is remembered for the shorter
`negative_ttl` and answered with the fallback (`absent`). Concurrent misses for one key make one
call; a call that outlasts a caller's timeout goes on in the background and fills the cache for
the next caller. The cache is bounded in entries and in bytes (least recently used go first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from string import Formatter
from typing import Any, Final
from urllib.parse import quote

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.config import IntegrationsFile
from shared.errors import ConfigError, EventyardError
from shared.gateway.body import json_body
from shared.gateway.client import Gateway
from shared.gateway.errors import HttpPermanentError
from shared.metrics import PREFIX

log = logging.getLogger(__name__)

SKIP: Final = "skip"  # the fallback that leaves the field out
_ABSENT_STATUSES = frozenset({404, 410})
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Served(StrEnum):
    """Where an answer came from (the `served` label of the query metric)."""

    HIT = "hit"
    MISS = "miss"
    STALE = "stale"
    FALLBACK = "fallback"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class QueryPolicy:
    """One cached query: where it reads, how long answers live, and what stands in for one."""

    integration: str
    name: str
    path: str  # below the integration's base URL, with `{placeholders}`
    ttl: float = 300.0
    negative_ttl: float = 30.0
    timeout: float = 2.0
    stale_for: float = 86_400.0
    fallback: Any = SKIP  # a JSON value, or SKIP
    max_entries: int = 10_000
    max_bytes: int = 16 * 1024 * 1024

    @property
    def label(self) -> str:
        """`<integration>.<query>`, as the catalogue and the metrics name it."""
        return f"{self.integration}.{self.name}"

    def placeholders(self) -> list[str]:
        """The names the path asks for."""
        return [field for _, field, _, _ in Formatter().parse(self.path) if field]


@dataclass(frozen=True, slots=True)
class Answer:
    """A query's answer: the value (None when the fallback skips the field) and its origin."""

    value: Any
    served: Served
    age: float | None = None  # seconds since the copy was fetched, for a cached one

    @property
    def skipped(self) -> bool:
        """True when there is no value and the caller should leave the field out."""
        return self.value is None and self.served in (Served.FALLBACK, Served.ABSENT)


@dataclass(slots=True)
class _Entry:
    value: Any  # None for a negative entry
    size: int
    fetched: float
    fresh_until: float
    negative: bool


class QueryMetrics:
    """Answers by origin, call durations and cache size, per integration and query."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.served = Counter(
            f"{PREFIX}_query_answers_total",
            "Cached-query answers by origin: hit, miss, stale, fallback, absent (a 404).",
            ["integration", "query", "served"],
            registry=registry,
        )
        self.call_seconds = Histogram(
            f"{PREFIX}_query_call_duration_seconds",
            "Calls a cached query made to its integration, until answered or failed.",
            ["integration", "query"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.entries = Gauge(
            f"{PREFIX}_query_cache_entries",
            "Entries a cached query holds.",
            ["integration", "query"],
            registry=registry,
        )
        self.bytes = Gauge(
            f"{PREFIX}_query_cache_bytes",
            "Response bytes a cached query holds.",
            ["integration", "query"],
            registry=registry,
        )


class CachedQuery:
    """Answers one query's reads: cached, single-flight, within its timeout, else its fallback."""

    def __init__(
        self,
        gateway: Gateway,
        policy: QueryPolicy,
        metrics: QueryMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._gateway = gateway
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._flights: dict[str, asyncio.Task[_Entry]] = {}
        self._wanted = sorted(policy.placeholders())
        labels = (policy.integration, policy.name)
        self._served = {s: metrics.served.labels(*labels, s.value) for s in Served}
        self._call_seconds = metrics.call_seconds.labels(*labels)
        metrics.entries.labels(*labels).set_function(lambda: len(self._entries))
        metrics.bytes.labels(*labels).set_function(lambda: self._bytes)

    async def get(self, **params: str) -> Answer:
        """The answer for these path parameters; never raises for the source's failures."""
        path = self._path(params)
        now = self._clock()
        entry = self._entries.get(path)
        if entry is not None and now < entry.fresh_until:
            self._entries.move_to_end(path)
            return self._answer(entry, Served.HIT, now)
        flight = self._flights.get(path)
        if flight is None:
            flight = self._flights[path] = asyncio.create_task(self._fetch(path))
            flight.add_done_callback(lambda done: self._landed(path, done))
        try:
            async with asyncio.timeout(self.policy.timeout):
                # Shielded: a caller that gives up leaves the call to fill the cache.
                fetched = await asyncio.shield(flight)
        except (EventyardError, TimeoutError) as error:
            return self._instead(path, error)
        return self._answer(fetched, Served.MISS, self._clock())

    async def aclose(self) -> None:
        """Cancel the calls still in flight."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)

    def _path(self, params: Mapping[str, str]) -> str:
        wanted = self._wanted
        if sorted(params) != wanted:
            raise ConfigError(
                f"query {self.policy.label} takes {', '.join(wanted) or 'no parameters'}, "
                f"not {', '.join(sorted(params)) or 'none'}"
            )
        # Each value is one path segment: `../admin` or `a?b` cannot reach another resource.
        return self.policy.path.format_map({k: quote(str(v), safe="") for k, v in params.items()})

    async def _fetch(self, path: str) -> _Entry:
        started = self._clock()
        try:
            # Bounded by the integration's own timeout, not the query's: a call that outlasts
            # its caller still fills the cache for the next one.
            response = await self._gateway.request(self.policy.integration, "GET", path)
            value, negative = json_body(response), False
        except HttpPermanentError as error:  # GoneError (410) is one too
            if error.status_code not in _ABSENT_STATUSES:
                raise
            value, negative = None, True
            response = None
        finally:
            self._call_seconds.observe(self._clock() - started)
        now = self._clock()
        ttl = self.policy.negative_ttl if negative else self.policy.ttl
        size = len(response.content) if response is not None else 0
        entry = _Entry(value, size, now, now + ttl, negative)
        self._store(path, entry)
        return entry

    def _landed(self, path: str, flight: asyncio.Task[_Entry]) -> None:
        if self._flights.get(path) is flight:
            del self._flights[path]
        if not flight.cancelled() and flight.exception() is not None:
            # Retrieved here too: when every caller gave up first, nobody else would.
            log.debug("query %s: call failed: %s", self.policy.label, flight.exception())

    def _instead(self, path: str, error: BaseException) -> Answer:
        """The stale copy within `stale_for`, else the fallback."""
        now = self._clock()
        entry = self._entries.get(path)
        reason = "timed out" if isinstance(error, TimeoutError) else str(error)
        if entry is not None and not entry.negative:
            if now - entry.fresh_until <= self.policy.stale_for:
                log.warning("query %s: serving a stale copy: %s", self.policy.label, reason)
                return self._answer(entry, Served.STALE, now)
            self._drop(path)
        log.warning("query %s: answering with the fallback: %s", self.policy.label, reason)
        return self._fallback(Served.FALLBACK)

    def _answer(self, entry: _Entry, served: Served, now: float) -> Answer:
        if entry.negative:
            return self._fallback(Served.ABSENT)
        self._served[served].inc()
        return Answer(entry.value, served, max(0.0, now - entry.fetched))

    def _fallback(self, served: Served) -> Answer:
        self._served[served].inc()
        fallback = self.policy.fallback
        return Answer(None if fallback == SKIP else fallback, served)

    def _store(self, path: str, entry: _Entry) -> None:
        self._drop(path)
        if entry.size > self.policy.max_bytes:
            return  # answered, but too big to keep
        self._entries[path] = entry
        self._bytes += entry.size
        while len(self._entries) > self.policy.max_entries or self._bytes > self.policy.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self._bytes -= oldest.size

    def _drop(self, path: str) -> None:
        old = self._entries.pop(path, None)
        if old is not None:
            self._bytes -= old.size


class Queries:
    """Every cached query of a process, by `<integration>.<query>`."""

    def __init__(
        self,
        gateway: Gateway,
        policies: list[QueryPolicy],
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        metrics = QueryMetrics(registry)
        self._queries = {p.label: CachedQuery(gateway, p, metrics, clock) for p in policies}

    def get(self, integration: str, query: str) -> CachedQuery | None:
        """The query, or None when the integrations file does not declare it."""
        return self._queries.get(f"{integration}.{query}")

    async def aclose(self) -> None:
        """Cancel every call in flight."""
        for query in self._queries.values():
            await query.aclose()


def queries_for(
    integrations: IntegrationsFile, gateway: Gateway, registry: CollectorRegistry
) -> Queries:
    """Every `[integrations.<name>.reads.<query>]` of the file, over the process's gateway."""
    policies = [
        QueryPolicy(
            integration=name,
            name=query,
            path=read.path,
            ttl=read.ttl_seconds,
            negative_ttl=read.negative_ttl_seconds,
            timeout=read.timeout_seconds,
            stale_for=read.stale_for_seconds,
            fallback=read.fallback,
            max_entries=read.max_entries,
            max_bytes=read.max_bytes,
        )
        for name, config in integrations.integrations.items()
        for query, read in config.reads.items()
    ]
    return Queries(gateway, policies, registry)
