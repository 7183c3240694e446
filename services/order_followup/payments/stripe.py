"""Stripe's payments API (`POST /v1/payment_intents`, `POST /v1/refunds`), through the gateway.

The integration table carries the base URL (`https://api.stripe.com`) and the secret key
(`auth = "bearer"`); this adapter knows Stripe's form-encoded bodies, its amounts (already in
minor units, lower-case currencies), its statuses and its error codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from services.order_followup.payments.base import (
    Money,
    Payment,
    PaymentRefusedError,
    PaymentStatus,
    Refund,
    RefusalCode,
    UnreadablePaymentAnswerError,
    provider_id,
    status_of,
)
from shared import bounded_json
from shared.gateway import Gateway, json_body
from shared.gateway.errors import HttpPermanentError, HttpTransientError

CHARGE_PATH = "/v1/payment_intents"
REFUND_PATH = "/v1/refunds"
HEALTH_PATH = "/v1/balance"  # the account's balance: authenticated, cheap, no side effect
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_STATUS: dict[str, PaymentStatus] = {
    "succeeded": "succeeded",
    "processing": "pending",
    "pending": "pending",
    "requires_capture": "pending",
    "requires_action": "requires_action",
    "requires_confirmation": "requires_action",
    "requires_payment_method": "requires_action",
    "failed": "failed",
    "canceled": "canceled",
}
_CODES: dict[str, RefusalCode] = {
    "charge_already_refunded": "already_refunded",
    "amount_too_large": "amount_too_large",
    "resource_missing": "not_found",
    "card_declined": "declined",
    "expired_card": "declined",
    "insufficient_funds": "declined",
}


class StripeProvider:
    """Charges with PaymentIntents, refunds with Refunds; `Idempotency-Key` on every POST."""

    name: ClassVar[str] = "stripe"
    health_path: ClassVar[str] = HEALTH_PATH

    def __init__(self, integration: str, gateway: Gateway) -> None:
        self._integration = integration
        self._gateway = gateway

    async def charge(
        self, amount: Money, source: str, description: str, idempotency_key: str
    ) -> Payment:
        """Confirm a PaymentIntent off-session with the saved payment method `source`."""
        answer = await self._post(
            "charge",
            CHARGE_PATH,
            {
                "amount": amount.amount_minor,
                "currency": amount.currency.lower(),
                "payment_method": source,
                "confirm": "true",
                "off_session": "true",
                "description": description,
            },
            idempotency_key,
        )
        return Payment(
            provider_id(answer.get("id"), "payment id"), status_of(answer, _STATUS), _money(answer)
        )

    async def refund(
        self, payment_id: str, amount: Money, reason: str | None, idempotency_key: str
    ) -> Refund:
        """Refund `amount` of the PaymentIntent `payment_id`."""
        fields: dict[str, Any] = {"payment_intent": payment_id, "amount": amount.amount_minor}
        if reason:
            fields["metadata[reason]"] = reason[:500]  # Stripe's limit for a metadata value
        answer = await self._post("refund", REFUND_PATH, fields, idempotency_key)
        return Refund(
            provider_id(answer.get("id"), "refund id"),
            payment_id,
            status_of(answer, _STATUS),
            _money(answer),
        )

    async def _post(
        self, operation: str, path: str, fields: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        try:
            response = await self._gateway.request(
                self._integration,
                "POST",
                path,
                content=urlencode(fields).encode(),
                headers=FORM,
                idempotency_key=idempotency_key,
            )
        except HttpPermanentError as error:
            raise self._refused(operation, error.status_code, error.answer) from error
        except HttpTransientError as error:
            if _error(error.answer).get("type") == "idempotency_error":
                # 409: the key was used with other parameters; the same call again cannot help.
                raise self._refused(operation, error.status_code, error.answer) from error
            raise
        answer = json_body(response)
        if not isinstance(answer, dict):
            raise UnreadablePaymentAnswerError(f"{self._integration}'s answer is not an object")
        return answer

    def _refused(self, operation: str, status: int | None, answer: bytes) -> PaymentRefusedError:
        found = _error(answer)
        kind, code = found.get("type"), found.get("code") or found.get("decline_code")
        normalised: RefusalCode = (
            _CODES.get(code, "invalid_request")
            if isinstance(code, str)
            else "authentication"
            if status == 401
            else "idempotency_conflict"
            if kind == "idempotency_error"
            else "declined"
            if kind == "card_error"
            else "invalid_request"
        )
        message = found.get("message")
        detail = message[:200] if isinstance(message, str) else "no readable error body"
        return PaymentRefusedError(
            self._integration, operation, normalised, f"HTTP {status}: {detail}"
        )


def _error(answer: bytes) -> dict[str, Any]:
    """Stripe's `{"error": {"type", "code", "message", ...}}`, or {} when unreadable."""
    try:
        found = bounded_json.loads(answer)
    except ValueError:
        return {}
    error = found.get("error") if isinstance(found, dict) else None
    return error if isinstance(error, dict) else {}


def _money(answer: Mapping[str, Any]) -> Money:
    amount, currency = answer.get("amount"), answer.get("currency")
    if type(amount) is not int or not isinstance(currency, str):  # bool is an int subclass
        raise UnreadablePaymentAnswerError("the answer carries no amount in minor units")
    try:
        return Money(amount, currency.upper())
    except ValueError as error:
        raise UnreadablePaymentAnswerError(f"the answer's amount is unreadable: {error}") from None
