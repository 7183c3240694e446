"""Cached queries: fresh, single-flight, bounded, never slower than their timeout, never without
an answer (stale copy, else the declared fallback)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from shared.errors import ConfigError
from shared.gateway import EndpointPolicy
from shared.gateway.query import SKIP, Queries, QueryPolicy, Served
from shared.gateway.testing import Harness, harness

CRM = EndpointPolicy(name="crm", base_url="https://api.example.com/", max_retries=0)
FALLBACK = {"name": "there", "tier": "standard"}
ANSWERS = "eventyard_query_answers_total"


class Crm:
    """A CRM whose answers the test sets: a profile per id, a status, or a delay."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "nope"})
        customer = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={"name": f"N{customer}", "version": self.calls})


def query(h: Harness, **changes: object) -> tuple[Queries, QueryPolicy]:
    settings: dict[str, object] = {
        "integration": "crm",
        "name": "profile",
        "path": "/customers/{customer_id}",
        "ttl": 60.0,
        "negative_ttl": 10.0,
        "timeout": 0.5,
        "stale_for": 3600.0,
        "fallback": FALLBACK,
        **changes,
    }
    policy = QueryPolicy(**settings)  # type: ignore[arg-type]
    return Queries(h.gateway, [policy], h.registry, clock=h.clock), policy


def served(h: Harness, how: Served) -> float:
    return h.metric(ANSWERS, integration="crm", query="profile", served=how.value)


async def test_a_fresh_copy_answers_without_a_call_until_its_ttl_ends() -> None:
    crm = Crm()
    h = harness(crm, CRM)
    queries, _ = query(h)
    profile = queries.get("crm", "profile")
    assert profile is not None
    first = await profile.get(customer_id="c1")
    h.clock.advance(59)
    second = await profile.get(customer_id="c1")
    assert first.value == second.value == {"name": "Nc1", "version": 1}
    assert (first.served, second.served) == (Served.MISS, Served.HIT)
    assert second.age == 59
    h.clock.advance(2)
    assert (await profile.get(customer_id="c1")).value == {"name": "Nc1", "version": 2}
    assert (served(h, Served.MISS), served(h, Served.HIT)) == (2, 1)
    await queries.aclose()


async def test_a_failing_source_is_answered_by_the_stale_copy_within_stale_for() -> None:
    crm = Crm()
    h = harness(crm, CRM)
    queries, _ = query(h, stale_for=100.0)
    profile = queries.get("crm", "profile")
    assert profile is not None
    await profile.get(customer_id="c1")
    crm.status = 503
    h.clock.advance(60 + 99)
    stale = await profile.get(customer_id="c1")
    assert (stale.served, stale.value) == (Served.STALE, {"name": "Nc1", "version": 1})
    h.clock.advance(2)  # past stale_for: the copy is too old to stand in
    late = await profile.get(customer_id="c1")
    assert (late.served, late.value) == (Served.FALLBACK, FALLBACK)
    assert (served(h, Served.STALE), served(h, Served.FALLBACK)) == (1, 1)
    await queries.aclose()


async def test_a_slow_source_never_holds_the_caller_past_the_timeout_and_fills_the_cache() -> None:
    crm = Crm()
    crm.delay = 0.3
    h = harness(crm, CRM)
    queries, _ = query(h, timeout=0.05)
    profile = queries.get("crm", "profile")
    assert profile is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await profile.get(customer_id="c1")
    assert loop.time() - started < 0.25
    assert (answer.served, answer.value) == (Served.FALLBACK, FALLBACK)
    await asyncio.sleep(0.4)  # the call went on without the caller
    later = await profile.get(customer_id="c1")
    assert (later.served, later.value) == (Served.HIT, {"name": "Nc1", "version": 1})
    assert crm.calls == 1
    await queries.aclose()


async def test_concurrent_misses_for_one_key_make_one_call() -> None:
    crm = Crm()
    crm.delay = 0.05
    h = harness(crm, CRM)
    queries, _ = query(h)
    profile = queries.get("crm", "profile")
    assert profile is not None
    answers = await asyncio.gather(*(profile.get(customer_id="c1") for _ in range(20)))
    assert crm.calls == 1
    assert {a.value["version"] for a in answers} == {1}
    await profile.get(customer_id="c2")
    assert crm.calls == 2
    await queries.aclose()


async def test_a_404_is_remembered_for_the_shorter_negative_ttl_and_answered_by_the_fallback() -> (
    None
):
    crm = Crm()
    crm.status = 404
    h = harness(crm, CRM)
    queries, _ = query(h, fallback=SKIP)
    profile = queries.get("crm", "profile")
    assert profile is not None
    absent = await profile.get(customer_id="nobody")
    assert (absent.served, absent.value, absent.skipped) == (Served.ABSENT, None, True)
    h.clock.advance(9)
    await profile.get(customer_id="nobody")
    assert crm.calls == 1
    h.clock.advance(2)
    crm.status = 200
    found = await profile.get(customer_id="nobody")
    assert (found.served, found.value["name"]) == (Served.MISS, "Nnobody")
    assert served(h, Served.ABSENT) == 2
    await queries.aclose()


async def test_the_cache_is_bounded_in_entries_and_in_bytes() -> None:
    h = harness(Crm(), CRM)
    queries, _ = query(h, max_entries=3)
    profile = queries.get("crm", "profile")
    assert profile is not None
    for n in range(10):
        await profile.get(customer_id=f"c{n}")
    entries = "eventyard_query_cache_entries"
    assert h.metric(entries, integration="crm", query="profile") == 3
    size = "eventyard_query_cache_bytes"
    one = h.metric(size, integration="crm", query="profile") / 3
    await queries.aclose()

    h = harness(Crm(), CRM)
    queries, _ = query(h, max_bytes=int(one * 2.5))
    profile = queries.get("crm", "profile")
    assert profile is not None
    for n in range(10):
        await profile.get(customer_id=f"c{n}")
    assert h.metric(entries, integration="crm", query="profile") == 2
    assert h.metric(size, integration="crm", query="profile") <= one * 2.5
    await queries.aclose()


async def test_a_parameter_is_one_path_segment_and_the_parameters_must_match() -> None:
    crm = Crm()
    h = harness(crm, CRM)
    queries, _ = query(h)
    profile = queries.get("crm", "profile")
    assert profile is not None
    await profile.get(customer_id="../admin?x=1")
    assert h.requests[-1].url.raw_path == b"/customers/..%2Fadmin%3Fx%3D1"
    with pytest.raises(ConfigError, match="takes customer_id"):
        await profile.get(id="c1")
    assert queries.get("crm", "orders") is None
    await queries.aclose()
