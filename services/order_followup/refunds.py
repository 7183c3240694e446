"""The refund of a cancelled order: a Command to the payment provider the table names."""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import utc_now
from contracts.orders import OrderCancelledV1, OrderRefundedV1
from services.order_followup.payments import payment_provider
from services.order_followup.payments.base import Money, PaymentProvider
from shared.consumer import Handler, Incoming
from shared.errors import PermanentError
from shared.gateway import Gateway


def refund_step(adapter: str) -> Callable[[Gateway, str], Handler]:
    """The step factory for an integration whose table says `payments = "<adapter>"`."""

    def factory(gateway: Gateway, integration: str) -> Handler:
        return refund_payment(payment_provider(adapter, integration, gateway), integration)

    return factory


def refund_payment(provider: PaymentProvider, integration: str) -> Handler:
    """Refund what the cancelled order's payment took (idempotency key = event id): a refusal
    (4xx) is parked with the provider's reason in the yard's words, a 5xx or timeout climbs the
    ladder, and `order.refunded.v1` says what the provider took."""

    async def refund(incoming: Incoming[OrderCancelledV1]) -> None:
        order = incoming.data
        if order.refund_minor == 0:
            return  # nothing was taken, nothing to give back
        done = await provider.refund(
            order.payment_id,
            Money(order.refund_minor, order.currency),
            order.reason,
            idempotency_key=incoming.event.id,
        )
        if done.status in ("failed", "canceled"):
            raise PermanentError(f"{integration} reports refund {done.id} as {done.status}")
        incoming.answered(None, f"refund {done.id} {done.status}")
        await incoming.publish(
            OrderRefundedV1(
                order_id=order.order_id,
                payment_id=order.payment_id,
                refund_id=done.id,
                # requires_action too: the provider holds the refund until the customer acts.
                status="succeeded" if done.status == "succeeded" else "pending",
                currency=done.amount.currency,
                amount_minor=done.amount.amount_minor,
                refunded_at=utc_now(),
            ),
            require_route=False,
        )

    return refund
