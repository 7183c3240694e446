"""Mollie's payments API (`POST /v2/payments`, `POST /v2/payments/{id}/refunds`), through the
gateway.

The integration table carries the base URL (`https://api.mollie.com`) and the API key
(`auth = "bearer"`); this adapter knows Mollie's JSON bodies, its amounts (decimal strings with
the currency's digits, which it converts from and to minor units), statuses and error bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

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
from shared.gateway.errors import HttpPermanentError

CHARGE_PATH = "/v2/payments"
REFUND_PATH = "/v2/payments/{payment}/refunds"
HEALTH_PATH = "/v2/methods"  # the enabled payment methods: authenticated, cheap, no side effect
_STATUS: dict[str, PaymentStatus] = {
    "paid": "succeeded",
    "refunded": "succeeded",
    "authorized": "pending",
    "pending": "pending",
    "queued": "pending",
    "processing": "pending",
    "open": "requires_action",
    "failed": "failed",
    "expired": "failed",
    "canceled": "canceled",
}
# Mollie's errors carry an HTTP status, a `detail` and sometimes the `field`, but no code.
_BY_STATUS: dict[int, RefusalCode] = {401: "authentication", 404: "not_found", 410: "not_found"}


class MollieProvider:
    """Charges recurring payments and refunds them; `Idempotency-Key` on every POST."""

    name: ClassVar[str] = "mollie"
    health_path: ClassVar[str] = HEALTH_PATH

    def __init__(self, integration: str, gateway: Gateway) -> None:
        self._integration = integration
        self._gateway = gateway

    async def charge(
        self, amount: Money, source: str, description: str, idempotency_key: str
    ) -> Payment:
        """A recurring payment on the customer `source`'s valid mandate."""
        answer = await self._post(
            "charge",
            CHARGE_PATH,
            {
                "amount": _amount(amount),
                "description": description[:255],
                "sequenceType": "recurring",
                "customerId": source,
            },
            idempotency_key,
        )
        return Payment(
            provider_id(answer.get("id"), "payment id"), status_of(answer, _STATUS), _money(answer)
        )

    async def refund(
        self, payment_id: str, amount: Money, reason: str | None, idempotency_key: str
    ) -> Refund:
        """Refund `amount` of payment `payment_id`."""
        body: dict[str, Any] = {"amount": _amount(amount)}
        if reason:
            body["description"] = reason[:140]  # shown on the customer's statement
        path = REFUND_PATH.format(payment=quote(payment_id, safe=""))
        answer = await self._post("refund", path, body, idempotency_key)
        return Refund(
            provider_id(answer.get("id"), "refund id"),
            payment_id,
            status_of(answer, _STATUS),
            _money(answer),
        )

    async def _post(
        self, operation: str, path: str, body: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        try:
            response = await self._gateway.request(
                self._integration, "POST", path, json=body, idempotency_key=idempotency_key
            )
        except HttpPermanentError as error:
            raise self._refused(operation, error.status_code, error.answer) from error
        answer = json_body(response)
        if not isinstance(answer, dict):
            raise UnreadablePaymentAnswerError(f"{self._integration}'s answer is not an object")
        return answer

    def _refused(self, operation: str, status: int | None, answer: bytes) -> PaymentRefusedError:
        try:
            found: Any = bounded_json.loads(answer)
        except ValueError:
            found = {}
        found = found if isinstance(found, dict) else {}
        field, detail = found.get("field"), found.get("detail")
        code: RefusalCode = _BY_STATUS.get(status or 0, "invalid_request")
        if field == "amount" and status == 422:
            code = "amount_too_large"  # Mollie's 422 on `amount`: more than the payment has left
        text = detail[:200] if isinstance(detail, str) else "no readable error body"
        where = f" [{field[:40]}]" if isinstance(field, str) else ""
        return PaymentRefusedError(
            self._integration, operation, code, f"HTTP {status}: {text}{where}"
        )


def _amount(money: Money) -> dict[str, str]:
    return {"currency": money.currency, "value": money.decimal_text()}


def _money(answer: Mapping[str, Any]) -> Money:
    amount = answer.get("amount")
    found = amount if isinstance(amount, dict) else {}
    try:
        return Money.from_decimal_text(found.get("value"), found.get("currency"))
    except ValueError as error:
        raise UnreadablePaymentAnswerError(f"the answer's amount is unreadable: {error}") from None
