"""Test doubles for code that calls out through the gateway: clock, sleep, resolver, harness."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry

from shared.gateway.client import Gateway
from shared.gateway.policy import EndpointPolicy
from shared.gateway.ssrf import Resolver
from shared.redact import Redactor
from shared.tracing import Tracing

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]
# A globally routable address (one of example.com's), so the SSRF guard lets it pass.
PUBLIC_ADDRESS = "93.184.215.14"


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass
class RecordingSleep:
    """An instant `sleep` that remembers every delay it was asked for."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        """Record the delay and return at once."""
        self.delays.append(seconds)


def fake_resolver(hosts: Mapping[str, list[str]]) -> Resolver:
    """A resolver answering from a table; unknown names fail as real lookups do."""

    async def resolve(host: str, _port: int) -> list[str]:
        if host not in hosts:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(hosts[host])

    return resolve


@dataclass
class Harness:
    """A gateway over a mock transport, with the doubles and the requests it saw."""

    gateway: Gateway
    registry: CollectorRegistry
    clock: FakeClock
    sleep: RecordingSleep
    redactor: Redactor
    requests: list[httpx.Request]

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value, 0 when it was never recorded."""
        return self.registry.get_sample_value(name, labels) or 0.0


def harness(
    handler: Handler,
    *policies: EndpointPolicy,
    hosts: Mapping[str, list[str]] | None = None,
    resolver: Resolver | None = None,
    redactor: Redactor | None = None,
    tracing: Tracing | None = None,
) -> Harness:
    """A gateway whose transport is `handler`; `hosts` (or `resolver`) is the fake DNS."""
    requests: list[httpx.Request] = []

    async def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return await handler(request)

    table = hosts if hosts is not None else {"api.example.com": [PUBLIC_ADDRESS]}
    registry, clock, sleep = CollectorRegistry(), FakeClock(), RecordingSleep()
    redactor = redactor or Redactor()
    gateway = Gateway(
        policies,
        registry=registry,
        redactor=redactor,
        transport=httpx.MockTransport(recording),
        resolver=resolver or fake_resolver(table),
        sleep=sleep,
        clock=clock,
        tracing=tracing,
    )
    return Harness(gateway, registry, clock, sleep, redactor, requests)
