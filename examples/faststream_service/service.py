"""Loyalty points for every paid order: consumes order.created.v1, calls the loyalty API
through the gateway, publishes analytics.tracked.v1.

The outcome is `analytics.tracked.v1` because its PRODUCERS are `any`: this is another
company service, not one of the yard's, and the contracts that say a yard step did its work
(`order.crm_synced.v1`, ...) may come only from that step. No new contract was needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from faststream import FastStream

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import utc_now
from contracts.orders import OrderCreatedV1
from shared.consumer import Handler
from shared.faststream import Incoming, YardBroker, yard_subscriber
from shared.gateway import Gateway
from shared.settings import PRODUCTION_DELAYS

NAME = "loyalty"
QUEUE = "loyalty.points"
INTEGRATION = "loyalty"
POINTS_PER_MINOR_UNIT = 1 / 100


def award_points(gateway: Gateway, integration: str = INTEGRATION) -> Handler:
    """The handler: one call to the loyalty API per order, then the outcome event."""

    async def award(incoming: Incoming[OrderCreatedV1]) -> None:
        """Award loyalty points for a paid order."""
        order = incoming.data
        points = int(order.total_minor * POINTS_PER_MINOR_UNIT)
        await gateway.request(
            integration,
            "POST",
            "/points",
            json={"customer": order.customer.id, "order": order.order_id, "points": points},
            idempotency_key=incoming.event.id,  # the same on every retry and replay
        )  # 5xx, 429, timeouts: TransientError (the ladder); other 4xx: PermanentError (parked)
        await incoming.publish(
            AnalyticsTrackedV1(
                event="Loyalty Points Awarded",
                user_id=order.customer.id,
                properties={"order_id": order.order_id, "points": points},
                occurred_at=utc_now(),
            )
        )

    return award


def loyalty_broker(
    url: str,
    gateway: Gateway,
    *,
    delays: Sequence[float] = PRODUCTION_DELAYS,
    delivery_limit: int = 10,
) -> YardBroker:
    """The service's broker with its one subscriber, on the yard's ladder (`delays`)."""
    broker = YardBroker(
        url,
        service=NAME,
        emits=(AnalyticsTrackedV1,),
        delays=delays,
        delivery_limit=delivery_limit,
        description="Loyalty points for every paid order.",
    )
    yard_subscriber(broker, QUEUE, OrderCreatedV1)(award_points(gateway))
    return broker


def app(broker: YardBroker) -> FastStream:
    """The FastStream application (`faststream run`, AsyncAPI) around the broker."""
    return FastStream(broker)
