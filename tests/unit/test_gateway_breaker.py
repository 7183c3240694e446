"""The circuit breaker: opens on failures, fails fast, probes once, and closes or reopens."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import PermanentError, TransientError
from shared.gateway import CircuitOpenError, EndpointPolicy
from shared.gateway.breaker import BreakerState, CircuitBreaker
from shared.gateway.testing import FakeClock, Harness, harness

CRM = EndpointPolicy(
    name="crm",
    base_url="https://api.example.com/",
    max_retries=0,
    breaker_window=10,
    breaker_min_calls=4,
    breaker_failure_rate=0.5,
    breaker_open_seconds=30.0,
)
STATE = "eventyard_breaker_state"


class Switch:
    """A backend whose answer the test sets."""

    def __init__(self, status: int) -> None:
        self.status = status

    async def __call__(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status)


def state(breaker: CircuitBreaker) -> BreakerState:
    """The state, read through a call so that mypy does not narrow it between reads."""
    return breaker.state


async def fail(h: Harness, times: int) -> None:
    for _ in range(times):
        with pytest.raises(TransientError):
            await h.gateway.request("crm", "GET")


async def test_closed_open_half_open_closed() -> None:
    backend = Switch(500)
    h = harness(backend, CRM)
    assert h.gateway.breaker_state("crm") == "closed"
    assert h.metric(STATE, integration="crm") == 0
    await fail(h, 3)
    assert h.gateway.breaker_state("crm") == "closed"
    await fail(h, 1)
    assert h.gateway.breaker_state("crm") == "open"
    assert h.metric(STATE, integration="crm") == 2

    with pytest.raises(CircuitOpenError, match="circuit open for crm"):
        await h.gateway.request("crm", "GET")
    assert len(h.requests) == 4

    h.clock.advance(30)
    assert h.gateway.breaker_state("crm") == "half-open"
    assert h.metric(STATE, integration="crm") == 1
    backend.status = 200
    await h.gateway.request("crm", "GET")
    assert h.gateway.breaker_state("crm") == "closed"
    assert h.metric(STATE, integration="crm") == 0
    # The window starts afresh: three new failures are not yet enough to open it.
    backend.status = 500
    await fail(h, 3)
    assert h.gateway.breaker_state("crm") == "closed"
    await h.gateway.aclose()


async def test_a_failed_probe_opens_the_circuit_again() -> None:
    backend = Switch(503)
    h = harness(backend, CRM)
    await fail(h, 4)
    h.clock.advance(30)
    assert h.gateway.breaker_state("crm") == "half-open"
    await fail(h, 1)
    assert h.gateway.breaker_state("crm") == "open"
    h.clock.advance(29)
    with pytest.raises(CircuitOpenError):
        await h.gateway.request("crm", "GET")
    assert len(h.requests) == 5
    h.clock.advance(1)
    assert h.gateway.breaker_state("crm") == "half-open"
    await h.gateway.aclose()


async def test_permanent_answers_do_not_open_the_circuit() -> None:
    h = harness(Switch(404), CRM)
    for _ in range(10):
        with pytest.raises(PermanentError):
            await h.gateway.request("crm", "GET")
    assert h.gateway.breaker_state("crm") == "closed"
    await h.gateway.aclose()


async def test_timeouts_and_429_count_as_failures() -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.ConnectTimeout("slow"),
        httpx.Response(429),
        httpx.ConnectError("refused"),
        httpx.Response(200),
    ]

    async def handle(_: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    h = harness(handle, CRM)
    await fail(h, 3)
    await h.gateway.request("crm", "GET")
    assert h.gateway.breaker_state("crm") == "open"
    await h.gateway.aclose()


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_rate=1.0, window=2, min_calls=1, open_seconds=5, clock=clock)
    breaker.record("call", failed=True)
    assert breaker.admit() is None
    clock.advance(5)
    assert breaker.admit() == "probe"
    assert breaker.admit() is None
    # A late answer to a call admitted before the circuit opened decides nothing.
    breaker.record("call", failed=False)
    assert state(breaker) == "half-open"
    breaker.release("probe")
    assert breaker.admit() == "probe"
    breaker.record("probe", failed=False)
    assert state(breaker) == "closed"
    assert breaker.admit() == "call"


def test_the_window_forgets_old_outcomes() -> None:
    breaker = CircuitBreaker(
        failure_rate=0.5, window=4, min_calls=4, open_seconds=5, clock=FakeClock()
    )
    for failed in (True, False, False, False, False, True):
        breaker.record("call", failed=failed)
    assert state(breaker) == "closed"
    breaker.record("call", failed=True)
    assert state(breaker) == "open"
