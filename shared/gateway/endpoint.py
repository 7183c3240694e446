"""Per-endpoint state (breaker, concurrency, parsed URLs) and per-host rate limiters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from aiolimiter import AsyncLimiter

from shared.gateway.breaker import CircuitBreaker
from shared.gateway.policy import EndpointPolicy
from shared.gateway.target import display_path, target_url

MAX_TARGETS = 256


class Endpoint:
    """Everything the gateway keeps for one endpoint between calls."""

    def __init__(self, policy: EndpointPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.breaker = CircuitBreaker(
            failure_rate=policy.breaker_failure_rate,
            window=policy.breaker_window,
            min_calls=policy.breaker_min_calls,
            open_seconds=policy.breaker_open_seconds,
            clock=clock,
        )
        self.concurrency = asyncio.Semaphore(policy.concurrency)
        self._targets: dict[str, tuple[httpx.URL, str]] = {}

    def target(self, path: str) -> tuple[httpx.URL, str]:
        """The URL for `path` and how it is shown, parsed once per path (most calls repeat one)."""
        found = self._targets.get(path)
        if found is None:
            url = target_url(self.policy, path)
            found = (url, display_path(url, self.policy))
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()  # per-resource paths: keep the memory bounded
            self._targets[path] = found
        return found


class HostLimiters:
    """One rate limiter per host, shared by every endpoint on that host."""

    def __init__(self) -> None:
        self._limiters: dict[str, AsyncLimiter] = {}

    def get(self, host: str, rate_per_second: float) -> AsyncLimiter:
        """The host's limiter; the first endpoint to reach a host sets its rate."""
        limiter = self._limiters.get(host)
        if limiter is None:
            limiter = self._limiters[host] = _limiter(rate_per_second)
        return limiter

    def declare(self, host: str, rate_per_second: float) -> None:
        """Note an endpoint's host up front, so the strictest declared rate applies to it."""
        limiter = self._limiters.get(host)
        if limiter is None or _rate(limiter) > rate_per_second:
            self._limiters[host] = _limiter(rate_per_second)


def _limiter(rate_per_second: float) -> AsyncLimiter:
    # Below one per second a one-second bucket would hold less than one request.
    if rate_per_second >= 1:
        return AsyncLimiter(rate_per_second, 1.0)
    return AsyncLimiter(1, 1.0 / rate_per_second)


def _rate(limiter: AsyncLimiter) -> float:
    return limiter.max_rate / limiter.time_period


@dataclass(frozen=True, slots=True)
class Call:
    """One `Gateway.request` call, as every attempt of it needs it."""

    endpoint: Endpoint
    method: str
    url: httpx.URL
    path: str
    json: Any
    content: bytes | None
    headers: Mapping[str, str]
    idempotency_key: str | None
    timeout: float

    @property
    def where(self) -> str:
        """How errors name the call: endpoint, method and path without query string."""
        return f"{self.endpoint.policy.name}: {self.method} {self.path}"
