"""The gateway: the single exit point for every outbound HTTP call, over one client."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from shared.errors import ConfigError, TransientError
from shared.gateway.attempt import Attempter
from shared.gateway.breaker import BreakerState
from shared.gateway.endpoint import Call, Endpoint
from shared.gateway.errors import CircuitOpenError
from shared.gateway.metrics import GatewayMetrics
from shared.gateway.policy import EndpointPolicy
from shared.gateway.pools import AiohttpPool
from shared.gateway.retry import MAX_IN_CALL_WAIT, backoff, may_retry
from shared.gateway.ssrf import default_resolver
from shared.gateway.target import port_of
from shared.redact import Redactor
from shared.tracing import Tracing, answered, failed

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
        tracing: Tracing | None = None,
    ) -> None:
        # Requests go straight to the transport, not through an httpx.AsyncClient: the client's
        # redirects, cookie jar, environment proxies and .netrc are all things the gateway must
        # not have (calls are pinned to checked addresses; a kept cookie would be filed under an
        # IP and ride along with the next credential), and skipping it saves ~0.1 ms a call.
        self._transport = transport or AiohttpPool(tls)
        self._metrics = GatewayMetrics(registry)
        self._sleep = sleep
        self._clock = clock
        # None: no client spans, and no `traceparent` on what the gateway sends.
        self._tracing = tracing
        self._attempter = Attempter(
            self._transport,
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
        url, shown = state.target(path)
        span = None
        if self._tracing is not None:
            span, sent = self._tracing.call(method, endpoint, url.host, port_of(url))
            headers = {**(headers or {}), **sent}
        call = Call(
            endpoint=state,
            method=method,
            url=url,
            path=shown,
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
        try:
            while True:
                try:
                    response = await self._attempter.call(call, number)
                except CircuitOpenError:
                    raise
                except TransientError as error:
                    wait = error.retry_after
                    if number > retries or (wait is not None and wait > MAX_IN_CALL_WAIT):
                        raise
                    await self._sleep(wait if wait is not None else backoff(number))
                    number += 1
                    continue
                if span is not None:
                    answered(span, response.status_code, number - 1)
                return response
        except Exception as error:
            if span is not None:
                failed(span, error)
            raise
        finally:
            if span is not None:
                span.end()

    def breaker_state(self, endpoint: str) -> BreakerState:
        """The endpoint's circuit breaker state."""
        return self._endpoint(endpoint).breaker.state

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    def _endpoint(self, name: str) -> Endpoint:
        try:
            return self._endpoints[name]
        except KeyError:
            raise ConfigError(f"no endpoint named {name!r} is registered") from None
