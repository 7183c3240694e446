"""Order contracts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import ANY, Contract, Producers
from contracts.fields import CountryCode, CurrencyCode, EmailAddress


class Customer(BaseModel):
    """The buyer, as the shop knows them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    email: EmailAddress
    name: str = Field(min_length=1, max_length=200)


class OrderLine(BaseModel):
    """One product line of an order; prices in minor units (cents)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0, le=10_000)
    unit_price_minor: int = Field(ge=0)


class ShippingAddress(BaseModel):
    """Where the warehouse ships the order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: CountryCode


class OrderCreatedV1(Contract):
    """An order was placed and paid; inventory and payment are already settled."""

    TYPE: ClassVar[str] = "order.created"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({ANY}),
        "the shop's checkout publishes or drops it, and partners' order webhooks map to it; "
        "it starts CRM sync, the confirmation email and shipping, so whoever may write to the "
        "intake queue is trusted to place paid orders",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_7Hq2LmX9",
                    "customer": {
                        "id": "cus_1042",
                        "email": "ada@example.com",
                        "name": "Ada Lovelace",
                    },
                    "lines": [
                        {
                            "sku": "TEA-EARL-250",
                            "name": "Earl Grey, 250 g",
                            "quantity": 2,
                            "unit_price_minor": 899,
                        }
                    ],
                    "currency": "EUR",
                    "total_minor": 1798,
                    "placed_at": "2026-11-20T09:14:03Z",
                    "shipping_address": {
                        "line1": "12 Analytical Row",
                        "city": "London",
                        "postal_code": "NW1 6XE",
                        "country": "GB",
                    },
                }
            ]
        }
    )

    order_id: str = Field(min_length=1, max_length=100)
    customer: Customer
    lines: list[OrderLine] = Field(min_length=1)
    currency: CurrencyCode
    total_minor: int = Field(ge=0)
    placed_at: AwareDatetime
    shipping_address: ShippingAddress


class OrderCrmSyncedV1(Contract):
    """The order and its customer are in the CRM (order-followup's CRM step is done)."""

    TYPE: ClassVar[str] = "order.crm_synced"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"order-followup"}),
        "says the CRM step did its work: only that step can",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_7Hq2LmX9",
                    "customer_id": "cus_1042",
                    "crm_reference": "crm-88213",
                    "synced_at": "2026-11-20T09:14:05Z",
                }
            ]
        }
    )

    order_id: str = Field(min_length=1, max_length=100)
    customer_id: str = Field(min_length=1, max_length=100)
    crm_reference: str | None = Field(default=None, max_length=200)
    synced_at: AwareDatetime


class OrderConfirmationRequestedV1(Contract):
    """The confirmation email for an order was requested (order-followup's email step)."""

    TYPE: ClassVar[str] = "order.confirmation_requested"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"order-followup"}),
        "says the confirmation step asked for its email: only that step can",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_7Hq2LmX9",
                    "email_request_id": "9e1d5c4a-2f4b-5b8e-9a55-1c2d3e4f5a6b",
                    "requested_at": "2026-11-20T09:14:04Z",
                }
            ]
        }
    )

    order_id: str = Field(min_length=1, max_length=100)
    email_request_id: str = Field(min_length=1)
    requested_at: AwareDatetime


class OrderWarehouseNotifiedV1(Contract):
    """The warehouse has the order (order-followup's shipping step is done)."""

    TYPE: ClassVar[str] = "order.warehouse_notified"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"order-followup"}),
        "says the warehouse was told to ship: only that step can",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_7Hq2LmX9",
                    "shipment_reference": "shp-5521",
                    "notified_at": "2026-11-20T09:14:05Z",
                }
            ]
        }
    )

    order_id: str = Field(min_length=1, max_length=100)
    shipment_reference: str | None = Field(default=None, max_length=200)
    notified_at: AwareDatetime


class OrderCancelledV1(Contract):
    """An order was cancelled; what its payment took back is `refund_minor` (0: nothing)."""

    TYPE: ClassVar[str] = "order.cancelled"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({ANY}),
        "the shop's order service publishes or drops it; it refunds the payment, so whoever may "
        "write to the intake queue is trusted to cancel orders, as to place them (a refund can "
        "only return what the payment took, once: its idempotency key is this event's id)",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_7Hq2LmX9",
                    "payment_id": "pay_3Kd81Lq",
                    "currency": "EUR",
                    "refund_minor": 1798,
                    "reason": "the customer cancelled before shipping",
                    "cancelled_at": "2026-11-20T10:02:11Z",
                }
            ]
        }
    )

    order_id: str = Field(min_length=1, max_length=100)
    # The payment provider's own id for the order's payment, as checkout received it.
    payment_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    currency: CurrencyCode
    refund_minor: int = Field(ge=0, le=10**12)
    reason: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")
    cancelled_at: AwareDatetime


class OrderRefundedV1(Contract):
    """The payment provider took the refund of a cancelled order (order-followup's refund step)."""

    TYPE: ClassVar[str] = "order.refunded"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"order-followup"}),
        "says the payment provider took a refund: only the refund step can",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_7Hq2LmX9",
                    "payment_id": "pay_3Kd81Lq",
                    "refund_id": "re_8Hc2Kq1",
                    "status": "succeeded",
                    "currency": "EUR",
                    "amount_minor": 1798,
                    "refunded_at": "2026-11-20T10:02:12Z",
                }
            ]
        }
    )

    order_id: str = Field(min_length=1, max_length=100)
    payment_id: str = Field(min_length=1, max_length=200)
    refund_id: str = Field(min_length=1, max_length=200)
    # pending: the provider took it and settles it later (it says so in its own webhooks).
    status: Literal["succeeded", "pending"]
    currency: CurrencyCode
    amount_minor: int = Field(ge=0)
    refunded_at: AwareDatetime
