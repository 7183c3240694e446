"""Payments: each provider's adapter against a stand-in that checks the request the way the API
documents it (path, auth header, body encoding and fields, idempotency header) and answers with
that API's real error bodies; the refund step of a cancelled order through the handler kit."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from contracts.envelope import utc_now
from contracts.orders import OrderCancelledV1
from services.order_followup.payments import payment_provider
from services.order_followup.payments.base import (
    Money,
    PaymentProvider,
    PaymentRefusedError,
    UnreadablePaymentAnswerError,
)
from services.order_followup.payments.mollie import MollieProvider
from services.order_followup.payments.stripe import StripeProvider
from services.order_followup.refunds import refund_payment
from services.order_followup.steps import integration_steps
from shared.config import IntegrationConfig, IntegrationsFile
from shared.errors import ConfigError, TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import PUBLIC_ADDRESS, harness
from shared.publishing import build_event
from shared.redact import Redactor
from shared.testing import HandlerKit

KEY = "7d3c1e9a-6f0e-4d8f-9a55-2f7d3c1e9a10"
HOSTS = {"api.stripe.example": [PUBLIC_ADDRESS], "api.mollie.example": [PUBLIC_ADDRESS]}
STRIPE = EndpointPolicy("pay", "https://api.stripe.example", auth="bearer",
                        credentials=("PAY_KEY",), max_retries=0)  # fmt: skip
MOLLIE = EndpointPolicy("pay", "https://api.mollie.example", auth="bearer",
                        credentials=("PAY_KEY",), max_retries=0)  # fmt: skip
# The APIs' documented error bodies.
STRIPE_ALREADY_REFUNDED = {
    "error": {
        "code": "charge_already_refunded",
        "doc_url": "https://stripe.com/docs/error-codes/charge-already-refunded",
        "message": "Charge ch_3Kd81Lq has already been refunded.",
        "type": "invalid_request_error",
    }
}
STRIPE_MISSING = {
    "error": {
        "code": "resource_missing",
        "message": "No such payment_intent: 'pi_nope'",
        "param": "payment_intent",
        "type": "invalid_request_error",
    }
}
STRIPE_BAD_KEY = {
    "error": {
        "message": "Invalid API Key provided: sk_test_****1234",
        "type": "invalid_request_error",
    }
}
STRIPE_DECLINED = {
    "error": {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "type": "card_error",
    }
}
STRIPE_KEY_REUSED = {
    "error": {
        "message": "Keys for idempotent requests can only be used with the same parameters "
        "they were first used with.",
        "type": "idempotency_error",
    }
}
MOLLIE_TOO_MUCH = {
    "status": 422,
    "title": "Unprocessable Entity",
    "detail": "The amount is higher than the amount that can be refunded",
    "field": "amount",
    "_links": {"documentation": {"href": "https://docs.mollie.com/overview/handling-errors",
                                 "type": "text/html"}},
}  # fmt: skip
MOLLIE_MISSING = {
    "status": 404,
    "title": "Not Found",
    "detail": "No payment exists with token tr_nope.",
    "_links": {"documentation": {"href": "https://docs.mollie.com/overview/handling-errors",
                                 "type": "text/html"}},
}  # fmt: skip
MOLLIE_BAD_KEY = {
    "status": 401,
    "title": "Unauthorized Request",
    "detail": "Missing authentication, or failed to authenticate",
    "_links": {"documentation": {"href": "https://docs.mollie.com/overview/authentication",
                                 "type": "text/html"}},
}  # fmt: skip


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAY_KEY", "sk_test_51Kd")


class StripeStandIn:
    """`POST /v1/payment_intents` and `/v1/refunds` as Stripe documents them: form-encoded,
    `Authorization: Bearer`, `Idempotency-Key`; answers the object, or `status` with `answer`."""

    def __init__(self, status: int = 200, answer: Any = None, refund_status: str = "succeeded"):
        self.status, self.answer, self.refund_status = status, answer, refund_status
        self.forms: list[dict[str, list[str]]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path in ("/v1/payment_intents", "/v1/refunds")
        assert request.headers["authorization"] == "Bearer sk_test_51Kd"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert request.headers["idempotency-key"] == KEY
        form = parse_qs(request.content.decode(), strict_parsing=True)
        self.forms.append(form)
        if self.status != 200:
            return httpx.Response(self.status, json=self.answer)
        amount, currency = int(form["amount"][0]), form.get("currency", ["eur"])[0]
        if request.url.path == "/v1/refunds":
            assert set(form) <= {"payment_intent", "amount", "metadata[reason]"}
            return httpx.Response(200, json={
                "id": "re_3Kd81Lq", "object": "refund", "amount": amount, "currency": "eur",
                "payment_intent": form["payment_intent"][0], "status": self.refund_status,
            })  # fmt: skip
        assert form["confirm"] == ["true"]
        assert form["off_session"] == ["true"]
        return httpx.Response(200, json={
            "id": "pi_3Kd81Lq", "object": "payment_intent", "amount": amount,
            "currency": currency, "status": "succeeded",
        })  # fmt: skip


class MollieStandIn:
    """`POST /v2/payments` and `/v2/payments/{id}/refunds` as Mollie documents them: JSON with
    decimal-string amounts, `Authorization: Bearer`, `Idempotency-Key`; or `status`/`answer`."""

    def __init__(self, status: int = 201, answer: Any = None) -> None:
        self.status, self.answer = status, answer
        self.requests: list[tuple[str, Any]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["authorization"] == "Bearer sk_test_51Kd"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["idempotency-key"] == KEY
        body = orjson.loads(request.content)
        self.requests.append((request.url.raw_path.decode(), body))
        if self.status != 201:
            return httpx.Response(self.status, json=self.answer)
        assert set(body["amount"]) == {"currency", "value"}
        if request.url.path.endswith("/refunds"):
            payment = request.url.path.split("/")[3]
            return httpx.Response(201, json={
                "resource": "refund", "id": "re_4qqhO89gsT", "amount": body["amount"],
                "status": "pending", "paymentId": payment, "createdAt": "2026-12-03T10:00:00+00:00",
            })  # fmt: skip
        assert body["sequenceType"] == "recurring"
        assert body["customerId"] == "cst_8wmqcHMN4U"
        return httpx.Response(201, json={
            "resource": "payment", "id": "tr_WDqYK6vllg", "amount": body["amount"],
            "status": "paid", "sequenceType": "recurring",
        })  # fmt: skip


def stripe(stand_in: StripeStandIn) -> tuple[PaymentProvider, Gateway]:
    gateway = harness(stand_in, STRIPE, hosts=HOSTS).gateway
    return StripeProvider("pay", gateway), gateway


def mollie(stand_in: MollieStandIn) -> tuple[PaymentProvider, Gateway]:
    gateway = harness(stand_in, MOLLIE, hosts=HOSTS).gateway
    return MollieProvider("pay", gateway), gateway


async def test_stripe_charges_and_refunds_in_minor_units_form_encoded() -> None:
    stand_in = StripeStandIn()
    provider, gateway = stripe(stand_in)
    paid = await provider.charge(Money(1798, "EUR"), "pm_card_visa", "ord_1", KEY)
    refund = await provider.refund("pi_3Kd81Lq", Money(1798, "EUR"), "cancelled", KEY)
    charge_form, refund_form = stand_in.forms
    assert charge_form["amount"] == ["1798"]
    assert charge_form["currency"] == ["eur"]
    assert charge_form["payment_method"] == ["pm_card_visa"]
    assert refund_form == {
        "payment_intent": ["pi_3Kd81Lq"], "amount": ["1798"], "metadata[reason]": ["cancelled"],
    }  # fmt: skip
    assert (paid.id, paid.status, paid.amount) == ("pi_3Kd81Lq", "succeeded", Money(1798, "EUR"))
    assert (refund.id, refund.status, refund.amount) == ("re_3Kd81Lq", "succeeded", paid.amount)
    await gateway.aclose()


async def test_mollie_converts_minor_units_to_its_decimal_strings_and_back() -> None:
    stand_in = MollieStandIn()
    provider, gateway = mollie(stand_in)
    paid = await provider.charge(Money(1000, "JPY"), "cst_8wmqcHMN4U", "ord_1", KEY)
    refund = await provider.refund("tr_WDqYK6vllg", Money(1798, "EUR"), None, KEY)
    refund_kwd = await provider.refund("tr_WDqYK6vllg", Money(5, "KWD"), None, KEY)
    (_, charged), (path, refunded), (_, kwd) = stand_in.requests
    assert charged["amount"] == {"currency": "JPY", "value": "1000"}
    assert path == "/v2/payments/tr_WDqYK6vllg/refunds"
    assert refunded == {"amount": {"currency": "EUR", "value": "17.98"}}
    assert kwd["amount"] == {"currency": "KWD", "value": "0.005"}
    assert (paid.status, paid.amount) == ("succeeded", Money(1000, "JPY"))
    assert (refund.id, refund.status, refund.amount) == (
        "re_4qqhO89gsT",
        "pending",
        Money(1798, "EUR"),
    )
    assert refund_kwd.amount == Money(5, "KWD")
    await gateway.aclose()


@pytest.mark.parametrize(
    ("status", "answer", "code", "says"),
    [
        (400, STRIPE_ALREADY_REFUNDED, "already_refunded", "has already been refunded"),
        (404, STRIPE_MISSING, "not_found", "No such payment_intent"),
        (401, STRIPE_BAD_KEY, "authentication", "Invalid API Key"),
        (402, STRIPE_DECLINED, "declined", "insufficient funds"),
        (409, STRIPE_KEY_REUSED, "idempotency_conflict", "same parameters"),
        (400, "<html>bad gateway</html>", "invalid_request", "no readable error body"),
    ],
)
async def test_stripe_refusals_are_normalised(
    status: int, answer: Any, code: str, says: str
) -> None:
    provider, gateway = stripe(StripeStandIn(status, answer))
    with pytest.raises(PaymentRefusedError) as refused:
        await provider.refund("pi_nope", Money(100, "EUR"), None, KEY)
    assert refused.value.code == code
    assert says in str(refused.value)
    assert f"HTTP {status}" in str(refused.value)
    await gateway.aclose()


@pytest.mark.parametrize(
    ("status", "answer", "code", "says"),
    [
        (422, MOLLIE_TOO_MUCH, "amount_too_large", "higher than the amount that can be refunded"),
        (404, MOLLIE_MISSING, "not_found", "No payment exists"),
        (401, MOLLIE_BAD_KEY, "authentication", "failed to authenticate"),
        (422, {"status": 422, "detail": "The description is invalid", "field": "description"},
         "invalid_request", "[description]"),
    ],
)  # fmt: skip
async def test_mollie_refusals_are_normalised(
    status: int, answer: Any, code: str, says: str
) -> None:
    provider, gateway = mollie(MollieStandIn(status, answer))
    with pytest.raises(PaymentRefusedError) as refused:
        await provider.refund("tr_nope", Money(100, "EUR"), None, KEY)
    assert (refused.value.code, says in str(refused.value)) == (code, True)
    await gateway.aclose()


@pytest.mark.parametrize("adapter", [stripe, mollie])
async def test_a_5xx_or_429_is_transient_for_the_ladder(adapter: Any) -> None:
    for status in (500, 503, 429):
        stand_in = StripeStandIn(status, {}) if adapter is stripe else MollieStandIn(status, {})
        provider, gateway = adapter(stand_in)
        with pytest.raises(TransientError):
            await provider.refund("pi_1", Money(100, "EUR"), None, KEY)
        await gateway.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "re_1", "status": "teleported", "amount": 1, "currency": "eur"},
        {"id": "re_1", "status": "succeeded", "amount": True, "currency": "eur"},
        {"id": "re_1", "status": "succeeded", "amount": 5, "currency": "euro"},
        {"id": "", "status": "succeeded", "amount": 5, "currency": "eur"},
        ["not", "an", "object"],
    ],
)
async def test_an_unreadable_success_is_parked_not_guessed(answer: Any) -> None:
    async def respond(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    gateway = harness(respond, STRIPE, hosts=HOSTS).gateway
    with pytest.raises(UnreadablePaymentAnswerError):
        await StripeProvider("pay", gateway).refund("pi_1", Money(5, "EUR"), None, KEY)
    await gateway.aclose()


def test_amounts_are_exact_minor_units() -> None:
    assert Money(1798, "EUR").decimal_text() == "17.98"
    assert Money.from_decimal_text("17.98", "eur") == Money(1798, "EUR")
    for bad in ("17.985", "NaN", "Infinity", "1e400", "seventeen", 17.98):
        with pytest.raises(ValueError):  # noqa: PT011 - each is refused with its own message
            Money.from_decimal_text(bad, "EUR")
    with pytest.raises(ValueError, match="never negative"):
        Money(-1, "EUR")


def cancelled(refund_minor: int = 1798) -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id="ord_9", payment_id="pi_3Kd81Lq", currency="EUR", refund_minor=refund_minor,
        reason="cancelled before shipping", cancelled_at=utc_now(),
    )  # fmt: skip


async def test_a_cancelled_order_is_refunded_with_the_event_id_as_key() -> None:
    seen: list[str] = []

    async def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["idempotency-key"])
        form = parse_qs(request.content.decode())
        return httpx.Response(200, json={"id": "re_1", "status": "pending", "currency": "eur",
                                         "amount": int(form["amount"][0])})  # fmt: skip

    kit, gateway = (
        HandlerKit(service="order-followup"),
        harness(respond, STRIPE, hosts=HOSTS).gateway,
    )
    event = build_event(cancelled(), source="/shop")
    result = await kit.run(refund_payment(StripeProvider("pay", gateway), "pay"), event)
    again = await kit.run(refund_payment(StripeProvider("pay", gateway), "pay"), event, attempt=2)
    assert result.acked
    assert again.acked
    assert seen == [event.id, event.id]  # a redelivery asks the provider with the same key
    [refunded] = result.published
    assert (refunded.type, refunded.data.status, refunded.data.amount_minor) == (
        "order.refunded",
        "pending",
        1798,
    )
    assert refunded.data.refund_id == "re_1"
    await gateway.aclose()


@pytest.mark.parametrize(
    ("status", "answer", "outcome", "says"),
    [
        (400, STRIPE_ALREADY_REFUNDED, "parked", "pay refused the refund: already_refunded"),
        (503, {}, "retried", "503"),
        (200, {"id": "re_1", "status": "failed", "amount": 1, "currency": "eur"}, "parked",
         "reports refund re_1 as failed"),
    ],
)  # fmt: skip
async def test_the_refund_step_parks_a_refusal_and_climbs_the_ladder_on_a_5xx(
    status: int, answer: Any, outcome: str, says: str
) -> None:
    async def respond(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=answer)

    kit, gateway = (
        HandlerKit(service="order-followup"),
        harness(respond, STRIPE, hosts=HOSTS).gateway,
    )
    result = await kit.run(refund_payment(StripeProvider("pay", gateway), "pay"), cancelled())
    assert (result.outcome, result.published) == (outcome, [])
    assert says in (result.error or "")
    await gateway.aclose()


async def test_nothing_to_refund_calls_nobody() -> None:
    async def respond(_: httpx.Request) -> httpx.Response:
        raise AssertionError("no call expected")

    kit, gateway = (
        HandlerKit(service="order-followup"),
        harness(respond, STRIPE, hosts=HOSTS).gateway,
    )
    result = await kit.run(refund_payment(StripeProvider("pay", gateway), "pay"), cancelled(0))
    assert (result.acked, result.published) == (True, [])
    await gateway.aclose()


def test_the_integrations_file_chooses_the_adapter_and_binds_the_refund_step() -> None:
    answers = {"capability": "refunds", "dependency": "the PSP", "on_failure": "refunds wait",
               "criticality": "high"}  # fmt: skip
    file = IntegrationsFile(integrations={
        "pay": IntegrationConfig.model_validate(
            {"base_url": "https://api.mollie.example", "payments": "mollie", **answers}),
    })  # fmt: skip
    [step] = [s for s in integration_steps(file) if s.integration == "pay"]
    assert (step.queue.name, step.queue.bindings) == ("order-followup.pay", ("order.cancelled.v1",))
    assert [c.key() for c in step.accepts] == ["order.cancelled.v1"]
    gateway = Gateway([], registry=CollectorRegistry(), redactor=Redactor())
    assert step.factory is not None
    assert callable(step.factory(gateway, "pay"))
    assert payment_provider("stripe", "pay", gateway).name == "stripe"
    with pytest.raises(ConfigError, match="payments = 'adyen' is none of stripe, mollie"):
        payment_provider("adyen", "pay", gateway)
    with pytest.raises(ValueError, match="analytics and payments: an integration plays one"):
        IntegrationConfig.model_validate(
            {"base_url": "https://x.example", "payments": "stripe", "analytics": "segment"}
        )
