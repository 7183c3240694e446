"""One attempt of a call: breaker, SSRF check, limits, the HTTP exchange, and its record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from shared.errors import EventyardError, TransientError
from shared.gateway import audit
from shared.gateway.auth import auth_headers, credential_slots
from shared.gateway.body import ACCEPT_ENCODING, read_capped
from shared.gateway.endpoint import Call, HostLimiters
from shared.gateway.errors import CircuitOpenError, HttpPermanentError
from shared.gateway.metrics import GatewayMetrics
from shared.gateway.retry import is_breaker_failure, response_error, transport_error
from shared.gateway.ssrf import Resolver, checked_addresses
from shared.gateway.target import pin, port_of
from shared.redact import Redactor
from shared.version import eventyard_version

Outcome = tuple[httpx.Response, EventyardError | None]
# What an httpx.AsyncClient would add, with only the codings `read_capped` decodes step by step.
DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": ACCEPT_ENCODING,
    "User-Agent": f"eventyard/{eventyard_version()}",
}
_DEFAULT_FIELDS = {name.lower(): (name, value) for name, value in DEFAULT_HEADERS.items()}
log = logging.getLogger(__name__)


class Attempter:
    """Makes single attempts over the gateway's one client, recording each."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        resolver: Resolver,
        redactor: Redactor,
        metrics: GatewayMetrics,
        clock: Callable[[], float],
    ) -> None:
        self._transport = transport
        self._resolver = resolver
        self._redactor = redactor
        self._metrics = metrics
        self._clock = clock
        self.limiters = HostLimiters()

    async def call(self, call: Call, number: int) -> httpx.Response:
        """Attempt `number` of the call, moving to the next credential on each 401."""
        *older, last = credential_slots(call.endpoint.policy)
        for credential in older:
            response, error = await self._once(call, number, credential)
            if error is None:
                return response
            if response.status_code != 401:
                raise error
        response, error = await self._once(call, number, last)
        if error is None:
            return response
        if response.status_code == 401 and older:
            message = f"{error} (with each of {len(older) + 1} credentials)"
            raise HttpPermanentError(message, status_code=401) from error
        raise error

    async def _once(self, call: Call, number: int, credential: int | None) -> Outcome:
        """The response and the error it stands for (None for 2xx); raises when none came."""
        breaker = call.endpoint.breaker
        admission = breaker.admit()
        if admission is None:
            circuit = CircuitOpenError(f"circuit open for {call.endpoint.policy.name}")
            self._record(call, number, credential, status=None, error=circuit, seconds=None)
            raise circuit
        started: float | None = None
        try:
            requests = await self._build(call, credential)
            policy = call.endpoint.policy
            host = call.url.raw_host.decode("ascii")
            limiter = self.limiters.get(host, policy.rate_limit_per_second)
            async with call.endpoint.concurrency, limiter:
                started = self._clock()
                # httpx timeouts bound each phase; this bounds the attempt as a whole.
                async with asyncio.timeout(call.timeout):
                    response = await self._send(call, requests)
                    problem = await read_capped(response, policy.max_response_bytes)
        except Exception as exc:
            error = exc
            if isinstance(exc, httpx.TransportError | TimeoutError):
                error = transport_error(call.where, exc, self._redactor)
            if isinstance(error, TransientError):
                breaker.record(admission, failed=True)
            else:
                breaker.release(admission)
            self._record(
                call, number, credential, status=None, error=error, seconds=self._since(started)
            )
            if error is exc:
                raise
            raise error from exc
        except BaseException:
            breaker.release(admission)
            raise
        seconds = self._since(started)
        status = response.status_code
        failure = response_error(call.where, response, self._redactor, time.time())
        if failure is None and problem is not None:
            failure = problem.error_for(call.where, status)
        breaker.record(admission, failed=failure is not None and is_breaker_failure(status))
        if credential is not None and 200 <= status < 300:
            self._metrics.credential_used.labels(call.endpoint.policy.name, str(credential)).inc()
        self._record(call, number, credential, status=status, error=failure, seconds=seconds)
        return response, failure

    async def _send(self, call: Call, requests: list[httpx.Request]) -> httpx.Response:
        """The response from the first address of the host that accepts a connection."""
        *others, last = requests
        for request in others:
            try:
                return await self._transport.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                # Nothing was sent: the host's next address may answer (a dead replica, or
                # an address family this machine cannot reach).
                log.warning(
                    "%s: no connection to %s (%s); trying the host's next address",
                    call.where,
                    request.url.host,
                    type(error).__name__,
                )
        return await self._transport.handle_async_request(last)

    async def _build(self, call: Call, credential: int | None) -> list[httpx.Request]:
        """The request, once per checked address of the host."""
        policy = call.endpoint.policy
        host = call.url.raw_host.decode("ascii")
        addresses = await checked_addresses(
            host,
            port_of(call.url),
            self._resolver,
            allow_private=policy.allow_private_network,
            resolve_timeout=policy.connect_timeout,
        )
        # Later names replace earlier ones, case-insensitively (half the cost of httpx.Headers'
        # own `update`).
        merged = dict(_DEFAULT_FIELDS)
        auth = auth_headers(policy, credential, self._redactor)
        for name, value in (*call.headers.items(), *auth.items()):
            merged[name.lower()] = (name, value)
        if call.idempotency_key is not None:
            merged["idempotency-key"] = ("Idempotency-Key", call.idempotency_key)
        timeout = httpx.Timeout(call.timeout, connect=policy.connect_timeout).as_dict()
        requests = []
        for address in addresses:
            pinned = pin(call.url, address)
            merged["host"] = ("Host", pinned.host_header)
            requests.append(
                httpx.Request(
                    call.method,
                    pinned.url,
                    json=call.json,
                    content=call.content,
                    headers=list(merged.values()),
                    extensions={**pinned.extensions, "timeout": timeout},
                )
            )
        return requests

    def _since(self, started: float | None) -> float | None:
        return None if started is None else self._clock() - started

    def _record(
        self,
        call: Call,
        number: int,
        credential: int | None,
        *,
        status: int | None,
        error: BaseException | None,
        seconds: float | None,
    ) -> None:
        attempt = audit.Attempt(
            endpoint=call.endpoint.policy.name,
            method=call.method,
            path=call.path,
            attempt=number,
            credential=credential,
            status=status,
            outcome=audit.outcome_of(error),
            seconds=seconds,
        )
        audit.record(self._metrics, attempt)
