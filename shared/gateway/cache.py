"""Cached reads: fresh copies for a TTL, and the last good copy kept for when the endpoint fails."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from cachetools import LRUCache, TTLCache

MAX_ENTRIES = 1024


class ResponseCache:
    """One endpoint's cached GET responses, keyed by URL."""

    def __init__(self, clock: Callable[[], float], max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        # A TTLCache has one TTL, so each TTL a caller asks for gets its own (callers use few).
        self._fresh: dict[float, TTLCache[str, httpx.Response]] = {}
        self._last_good: LRUCache[str, httpx.Response] = LRUCache(max_entries)

    def fresh(self, url: str, ttl: float) -> httpx.Response | None:
        """The copy of `url` fetched less than `ttl` seconds ago, if any."""
        cache = self._fresh.get(ttl)
        return None if cache is None else cache.get(url)

    def last_good(self, url: str) -> httpx.Response | None:
        """The most recent good copy of `url`, however old."""
        return self._last_good.get(url)

    def store(self, url: str, ttl: float, response: httpx.Response) -> None:
        """Keep a good response, fresh for `ttl` seconds and as the fallback after that."""
        cache = self._fresh.get(ttl)
        if cache is None:
            cache = self._fresh[ttl] = TTLCache(self._max_entries, ttl, timer=self._clock)
        cache[url] = response
        self._last_good[url] = response

    def forget(self, url: str) -> None:
        """Drop every copy of `url` (the resource is gone)."""
        for cache in self._fresh.values():
            cache.pop(url, None)
        self._last_good.pop(url, None)
