"""Cached reads: fresh for a TTL, the last good copy when the endpoint fails, else a clear error."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy, GoneError
from shared.gateway.testing import harness

RATES = EndpointPolicy(name="rates", base_url="https://api.example.com/", max_retries=0)
STALE = "eventyard_gateway_stale_served_total"


class Backend:
    """Answers with a numbered body, or with the status the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.served = 0

    async def __call__(self, _: httpx.Request) -> httpx.Response:
        if self.status != 200:
            return httpx.Response(self.status)
        self.served += 1
        return httpx.Response(200, json={"version": self.served})


async def test_a_fresh_copy_is_served_without_a_call() -> None:
    backend = Backend()
    h = harness(backend, RATES)
    first = await h.gateway.get_cached("rates", "eur", ttl=60)
    h.clock.advance(59)
    second = await h.gateway.get_cached("rates", "eur", ttl=60)
    assert first.json() == second.json() == {"version": 1}
    assert len(h.requests) == 1
    other = await h.gateway.get_cached("rates", "usd", ttl=60)
    assert other.json() == {"version": 2}
    await h.gateway.aclose()


async def test_an_expired_copy_is_refetched() -> None:
    backend = Backend()
    h = harness(backend, RATES)
    await h.gateway.get_cached("rates", "eur", ttl=60)
    h.clock.advance(61)
    refreshed = await h.gateway.get_cached("rates", "eur", ttl=60)
    assert refreshed.json() == {"version": 2}
    await h.gateway.aclose()


@pytest.mark.parametrize("status", [503, 404])
async def test_the_last_good_copy_is_served_when_the_endpoint_fails(status: int) -> None:
    backend = Backend()
    h = harness(backend, RATES)
    await h.gateway.get_cached("rates", "eur", ttl=60)
    h.clock.advance(3600)
    backend.status = status
    stale = await h.gateway.get_cached("rates", "eur", ttl=60)
    assert stale.json() == {"version": 1}
    assert len(h.requests) == 2
    assert h.metric(STALE, integration="rates") == 1
    await h.gateway.aclose()


async def test_with_nothing_cached_the_error_says_so() -> None:
    backend = Backend()
    backend.status = 503
    h = harness(backend, RATES)
    with pytest.raises(TransientError, match=r"returned 503 \(no cached value was available\)"):
        await h.gateway.get_cached("rates", "eur")
    backend.status = 403
    with pytest.raises(PermanentError, match="no cached value was available"):
        await h.gateway.get_cached("rates", "eur")
    assert h.metric(STALE, integration="rates") == 0
    await h.gateway.aclose()


async def test_gone_is_never_hidden_behind_a_stale_copy() -> None:
    backend = Backend()
    h = harness(backend, RATES)
    await h.gateway.get_cached("rates", "eur", ttl=60)
    h.clock.advance(61)
    backend.status = 410
    with pytest.raises(GoneError):
        await h.gateway.get_cached("rates", "eur", ttl=60)
    backend.status = 503
    with pytest.raises(TransientError, match="no cached value was available"):
        await h.gateway.get_cached("rates", "eur", ttl=60)
    await h.gateway.aclose()
