"""Property-based fuzz of a cached query's door: whatever a source answers (any status, any
bytes, JSON of any shape), a query answers with a value or its fallback and never raises, and
only short text fields of a profile reach an email."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.order_followup.handlers import MAX_PROFILE_CHARS, PROFILE_FIELDS, profile_fields
from shared.gateway import EndpointPolicy
from shared.gateway.query import Queries, QueryPolicy, Served
from shared.gateway.testing import harness

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=300)
JSON = st.recursive(
    SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                               max_size=6),
    max_leaves=20,
)  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=2000), JSON.map(lambda v: httpx.Response(200, json=v).content)
)
FALLBACK = {"tier": "standard"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(min_value=100, max_value=599), body=BODIES)
def test_any_answer_of_the_source_is_answered_never_raised(status: int, body: bytes) -> None:
    async def source(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async def ask() -> None:
        policy = EndpointPolicy("crm", "https://api.example.com/", max_retries=0,
                                max_response_bytes=1000)  # fmt: skip
        h = harness(source, policy)
        query = QueryPolicy("crm", "profile", "/p/{id}", fallback=FALLBACK)
        queries = Queries(h.gateway, [query], h.registry, clock=h.clock)
        profile = queries.get("crm", "profile")
        assert profile is not None
        answer = await profile.get(id="c1")
        if answer.served is Served.MISS:
            assert 200 <= status < 300
        else:
            assert answer.served in (Served.FALLBACK, Served.ABSENT)
            assert answer.value == FALLBACK
        await queries.aclose()
        await h.gateway.aclose()

    asyncio.run(ask())


@given(JSON)
def test_only_short_text_profile_fields_reach_an_email(found: object) -> None:
    fields = profile_fields(found)
    assert set(fields) <= set(PROFILE_FIELDS)
    assert all(isinstance(v, str) and 0 < len(v) <= MAX_PROFILE_CHARS for v in fields.values())
