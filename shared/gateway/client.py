"""The gateway: the single exit point for every outbound HTTP call, over one client."""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from shared.errors import ConfigError, PermanentError, TransientError
from shared.gateway.attempt import Attempter
from shared.gateway.body import ACCEPT_ENCODING
from shared.gateway.breaker import BreakerState
from shared.gateway.endpoint import Call, Endpoint
from shared.gateway.errors import CircuitOpenError, GoneError
from shared.gateway.metrics import GatewayMetrics
from shared.gateway.policy import EndpointPolicy
from shared.gateway.pools import PoolPerServerName
from shared.gateway.retry import MAX_IN_CALL_WAIT, backoff, may_retry
from shared.gateway.ssrf import default_resolver
from shared.gateway.target import display_path, target_url
from shared.redact import Redactor

log = logging.getLogger(__name__)


class Gateway:
    """Makes outbound HTTP calls under each endpoint's policy; 2xx or a classified error."""

    def __init__(
        self,
        policies: Iterable[EndpointPolicy],
        *,
        registry: CollectorRegistry,
        redactor: Redactor,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Callable[[str, int], Awaitable[list[str]]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        # trust_env=False: proxies from the environment would bypass the address pinning,
        # and ~/.netrc would add credentials the policies never declared.
        self._client = httpx.AsyncClient(
            transport=transport or PoolPerServerName(lambda: _pool(tls)),
            follow_redirects=False,
            timeout=httpx.Timeout(15.0, connect=5.0),
            trust_env=False,
            cookies=_refusing_jar(),
            # Only the codings `read_capped` decodes step by step, whatever else is installed.
            headers={"Accept-Encoding": ACCEPT_ENCODING},
        )
        self._metrics = GatewayMetrics(registry)
        self._sleep = sleep
        self._clock = clock
        self._attempter = Attempter(
            self._client,
            resolver=resolver or default_resolver,
            redactor=redactor,
            metrics=self._metrics,
            clock=clock,
        )
        self._endpoints: dict[str, Endpoint] = {}
        for policy in policies:
            self.add(policy)

    def add(self, policy: EndpointPolicy) -> None:
        """Register an endpoint; names are unique."""
        if policy.name in self._endpoints:
            raise ConfigError(f"endpoint {policy.name!r} is already registered")
        endpoint = self._endpoints[policy.name] = Endpoint(policy, self._clock)
        host = httpx.URL(policy.base_url).raw_host.decode("ascii")
        self._attempter.limiters.declare(host, policy.rate_limit_per_second)
        self._metrics.watch_breaker(policy.name, lambda: endpoint.breaker.state)

    async def request(
        self,
        endpoint: str,
        method: str,
        path: str = "",
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per attempt, not a deadline
    ) -> httpx.Response:
        """Call the endpoint; returns a 2xx response, raises Transient/PermanentError otherwise."""
        state = self._endpoint(endpoint)
        method = method.upper()
        url = target_url(state.policy, path)
        call = Call(
            endpoint=state,
            method=method,
            url=url,
            path=display_path(url, state.policy),
            json=json,
            content=content,
            headers=headers or {},
            idempotency_key=idempotency_key,
            timeout=timeout or state.policy.timeout,
        )
        retries = state.policy.max_retries if may_retry(method, idempotency_key) else 0
        # A plain loop rather than tenacity: the wait comes from the error (Retry-After) or the
        # jitter, a long Retry-After stops early, and 401s rotate credentials without counting.
        number = 1
        while True:
            try:
                return await self._attempter.call(call, number)
            except CircuitOpenError:
                raise
            except TransientError as error:
                wait = error.retry_after
                if number > retries or (wait is not None and wait > MAX_IN_CALL_WAIT):
                    raise
                await self._sleep(wait if wait is not None else backoff(number))
                number += 1

    async def get_cached(
        self,
        endpoint: str,
        path: str = "",
        *,
        ttl: float = 60.0,
        timeout: float | None = None,  # noqa: ASYNC109 - per attempt, not a deadline
    ) -> httpx.Response:
        """A GET answered from cache for `ttl` seconds; the last good copy if the endpoint fails."""
        state = self._endpoint(endpoint)
        key = str(target_url(state.policy, path))
        cached = state.cache.fresh(key, ttl)
        if cached is not None:
            return cached
        try:
            response = await self.request(endpoint, "GET", path, timeout=timeout)
        except GoneError:
            state.cache.forget(key)
            raise
        except (TransientError, PermanentError) as error:
            stale = state.cache.last_good(key)
            if stale is None:
                # Same class, so the caller's retry-or-park decision is unchanged.
                error.args = (f"{error} (no cached value was available)",)
                raise
            self._metrics.stale_served.labels(endpoint).inc()
            log.warning("%s: serving a stale cached copy: %s", endpoint, error)
            return stale
        state.cache.store(key, ttl, response)
        return response

    def breaker_state(self, endpoint: str) -> BreakerState:
        """The endpoint's circuit breaker state."""
        return self._endpoint(endpoint).breaker.state

    async def aclose(self) -> None:
        """Close the one HTTP client and its connections."""
        await self._client.aclose()

    def _endpoint(self, name: str) -> Endpoint:
        try:
            return self._endpoints[name]
        except KeyError:
            raise ConfigError(f"no endpoint named {name!r} is registered") from None


def _pool(tls: ssl.SSLContext | None) -> httpx.AsyncHTTPTransport:
    """One connection pool; `tls` trusts other CAs than certifi's (tests, private CAs)."""
    return httpx.AsyncHTTPTransport(
        verify=tls if tls is not None else True,
        trust_env=False,
        # Big enough that a destination that hangs with all its concurrency in use never
        # starves the others sharing the pool (each endpoint has its own semaphore).
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
    )


def _refusing_jar() -> http.cookiejar.CookieJar:
    """A cookie jar that keeps nothing.

    Calls are pinned to addresses, so a kept cookie would be filed under an IP and sent to every
    host behind it; and a session one credential opened would ride along with the next. Each
    call carries only the headers its caller and its policy give it.
    """
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
