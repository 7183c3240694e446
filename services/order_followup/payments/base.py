"""What a payment provider is to the yard: amounts in integer minor units with a currency, the
provider's ids, a status, and refusals normalised into the yard's own codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal, Protocol

from shared.errors import PermanentError

PaymentStatus = Literal["succeeded", "pending", "requires_action", "failed", "canceled"]
# Why a provider refused, in the yard's words: an operator reads the same code whichever
# provider the table names.
RefusalCode = Literal[
    "already_refunded",
    "amount_too_large",
    "authentication",
    "declined",
    "idempotency_conflict",
    "invalid_request",
    "not_found",
]

# ISO 4217 currencies whose minor unit is not the cent (every other one has two digits).
_ZERO_DIGITS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
     "VUV", "XAF", "XOF", "XPF"}
)  # fmt: skip
_THREE_DIGITS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
MAX_ID_CHARS = 200
MAX_MINOR = 10**15  # more minor units than any payment: a bound on what an answer may claim


def minor_digits(currency: str) -> int:
    """How many decimal digits the currency's minor unit has (JPY 0, EUR 2, KWD 3)."""
    code = currency.upper()
    return 0 if code in _ZERO_DIGITS else 3 if code in _THREE_DIGITS else 2


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in the currency's minor units (cents for EUR): never a float."""

    amount_minor: int
    currency: str  # ISO 4217, upper case

    def __post_init__(self) -> None:
        if self.amount_minor < 0:
            raise ValueError("an amount is never negative")
        if (
            len(self.currency) != 3
            or not (self.currency.isascii() and self.currency.isalpha())
            or not self.currency.isupper()
        ):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 code")

    def decimal_text(self) -> str:
        """The amount as a decimal string with the currency's digits: 1798 EUR is `17.98`."""
        digits = minor_digits(self.currency)
        return f"{Decimal(self.amount_minor).scaleb(-digits):.{digits}f}"

    @classmethod
    def from_decimal_text(cls, text: Any, currency: Any) -> Money:
        """Read a provider's decimal amount; ValueError unless it is exact in minor units."""
        if not isinstance(text, str) or not isinstance(currency, str) or len(text) > 30:
            raise ValueError("the amount is not a decimal string with a currency")
        try:
            minor = Decimal(text).scaleb(minor_digits(currency))
        except InvalidOperation:
            raise ValueError(f"{text[:30]!r} is not a decimal amount") from None
        if not minor.is_finite() or minor != minor.to_integral_value():
            raise ValueError(f"{text!r} is not exact in {currency[:3]!r} minor units")
        if abs(minor) > MAX_MINOR:
            raise ValueError(f"{text!r} is beyond any payment")
        return cls(int(minor), currency.upper())


@dataclass(frozen=True, slots=True)
class Payment:
    """A charge as the provider reports it."""

    id: str
    status: PaymentStatus
    amount: Money


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund as the provider reports it."""

    id: str
    payment_id: str
    status: PaymentStatus
    amount: Money


class PaymentRefusedError(PermanentError):
    """The provider refused the call (a 4xx): retrying cannot help, the message is parked."""

    def __init__(self, integration: str, operation: str, code: RefusalCode, detail: str) -> None:
        super().__init__(f"{integration} refused the {operation}: {code} ({detail})")
        self.code = code


class UnreadablePaymentAnswerError(PermanentError):
    """A 2xx whose body does not say what was done: parked for a person to look at the provider
    (replaying it is safe: the same idempotency key returns the same outcome)."""


class PaymentProvider(Protocol):
    """Charges and refunds through one provider; raises TransientError (the ladder),
    PaymentRefusedError or UnreadablePaymentAnswerError (parked)."""

    name: ClassVar[str]  # the adapter's name, as the integrations file names it
    health_path: ClassVar[str]  # an authenticated, side-effect-free GET the health service probes

    async def charge(
        self, amount: Money, source: str, description: str, idempotency_key: str
    ) -> Payment:
        """Take `amount` with a stored payment method or customer (`source`)."""
        ...

    async def refund(
        self, payment_id: str, amount: Money, reason: str | None, idempotency_key: str
    ) -> Refund:
        """Give back `amount` of payment `payment_id`."""
        ...


def status_of(answer: Mapping[str, Any], statuses: Mapping[str, PaymentStatus]) -> PaymentStatus:
    """The answer's `status` in the yard's words; unreadable when the provider's is unknown."""
    status = answer.get("status")
    if not isinstance(status, str) or status not in statuses:
        raise UnreadablePaymentAnswerError(f"unknown status {str(status)[:40]!r}")
    return statuses[status]


def provider_id(value: Any, what: str) -> str:
    """An id from the provider's answer: short printable text, else the answer is unreadable."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS or not value.isprintable():
        raise UnreadablePaymentAnswerError(f"the provider's answer carries no readable {what}")
    return value
