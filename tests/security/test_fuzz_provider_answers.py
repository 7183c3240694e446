"""Property-based fuzz of what a hosted mail or payment API may answer: whatever the status and
bytes, an adapter returns its result or raises the yard's TransientError / PermanentError
(retried or parked), never a parsing error the consumer could not classify."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.email.apis.postmark import PostmarkProvider
from services.email.apis.sendgrid import SendGridProvider
from services.email.rendering import RenderedEmail
from services.order_followup.payments.base import Money
from services.order_followup.payments.mollie import MollieProvider
from services.order_followup.payments.stripe import StripeProvider
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


PAYMENT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=250) | st.integers(),
        "status": st.sampled_from(["succeeded", "paid", "pending", "refunded", "nope"]) | CODES,
        "amount": st.integers(min_value=-10, max_value=10**20) | st.booleans()
        | st.fixed_dictionaries({"currency": st.text(max_size=5), "value": st.text(max_size=40)}),
        "currency": st.sampled_from(["eur", "EUR", "jpy", "e1r", ""]) | st.integers(),
        "error": st.dictionaries(st.sampled_from(["type", "code", "message"]), st.text()),
        "detail": st.text(max_size=300),
        "field": st.text(max_size=50) | st.none(),
    },
).map(lambda v: httpx.Response(200, json=v).content)  # fmt: skip


@pytest.mark.parametrize("adapter", [StripeProvider, MollieProvider])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.integers(min_value=200, max_value=599), body=st.binary(max_size=3000) | PAYMENT_FIELDS
)
def test_any_payment_answer_is_a_refund_or_a_classified_error(
    adapter: type[StripeProvider | MollieProvider], status: int, body: bytes
) -> None:
    async def api(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async def refund() -> None:
        h = harness(api, EndpointPolicy("pay", "https://api.example.com", max_retries=0))
        try:
            done = await adapter("pay", h.gateway).refund("pay_1", Money(5, "EUR"), None, "evt-1")
        except (TransientError, PermanentError):
            return  # retried or parked, with a reason
        finally:
            await h.gateway.aclose()
        assert 200 <= status < 300
        assert done.id
        assert done.amount.amount_minor >= 0

    asyncio.run(refund())
