"""Property-based fuzz of what a hosted mail API may answer: whatever the status and bytes,
an adapter returns an id or raises the yard's TransientError / PermanentError (retried or
parked), never a parsing error the consumer could not classify."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.email.apis.postmark import PostmarkProvider
from services.email.apis.sendgrid import SendGridProvider
from services.email.rendering import RenderedEmail
from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy
from shared.gateway.testing import harness

EMAIL = RenderedEmail("ada@example.com", "Hello", "Hi", "<p>Hi</p>", "normal")
CODES = st.integers(min_value=-5, max_value=1000) | st.booleans() | st.text(max_size=5)
BODIES = st.one_of(
    st.binary(max_size=6000),
    st.fixed_dictionaries(
        {"ErrorCode": CODES, "Message": st.text(max_size=300)}
    ).map(lambda v: httpx.Response(200, json=v).content),
    st.lists(st.dictionaries(st.sampled_from(["message", "field"]), st.text(max_size=50)),
             max_size=3).map(lambda e: httpx.Response(200, json={"errors": e}).content),
)  # fmt: skip


@pytest.mark.parametrize("adapter", [SendGridProvider, PostmarkProvider])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(min_value=200, max_value=599), body=BODIES)
def test_any_answer_is_an_id_or_a_classified_error(
    adapter: type[SendGridProvider | PostmarkProvider], status: int, body: bytes
) -> None:
    async def api(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async def send() -> None:
        h = harness(api, EndpointPolicy("mail", "https://api.example.com", max_retries=0))
        provider = adapter("mail", "shop@example.com", h.gateway)
        try:
            if 200 <= status < 300:
                sent = await provider.send(EMAIL, "evt-1")
                assert sent is None or isinstance(sent, str)
            else:
                with pytest.raises((TransientError, PermanentError)):
                    await provider.send(EMAIL, "evt-1")
        finally:
            await h.gateway.aclose()

    asyncio.run(send())
