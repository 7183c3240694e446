"""The three follow-up steps of a paid order, each independent of the others."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from contracts.emails import EmailRequestedV1
from contracts.envelope import utc_now
from contracts.orders import (
    OrderConfirmationRequestedV1,
    OrderCreatedV1,
    OrderCrmSyncedV1,
    OrderWarehouseNotifiedV1,
)
from shared.consumer import Handler, Incoming
from shared.gateway import Gateway, UnreadableJsonError, json_body
from shared.gateway.query import CachedQuery

if TYPE_CHECKING:
    import httpx

CRM_SYNC_PATH = "/orders/sync"
WAREHOUSE_PATH = "/shipments"
CONFIRMATION_TEMPLATE = "order_confirmation"
PROFILE_QUERY = ("crm", "profile")
PROFILE_FIELDS = ("name", "locale", "tier")
MAX_PROFILE_CHARS = 200


def sync_to_crm(gateway: Gateway, integration: str = "crm") -> Handler:
    """Upsert the customer and the order in the CRM (idempotency key = event id)."""

    async def sync(incoming: Incoming[OrderCreatedV1]) -> None:
        order = incoming.data
        response = await gateway.request(
            integration,
            "POST",
            CRM_SYNC_PATH,
            json={
                "customer": order.customer.model_dump(mode="json"),
                "order": order.model_dump(mode="json", exclude={"customer"}),
            },
            idempotency_key=incoming.event.id,
        )
        reference = _reference(response)
        incoming.answered(response.status_code, f"crm reference {reference}" if reference else None)
        await incoming.publish(
            OrderCrmSyncedV1(
                order_id=order.order_id,
                customer_id=order.customer.id,
                crm_reference=reference,
                synced_at=utc_now(),
            ),
            require_route=False,
        )

    return sync


def request_confirmation(profile: CachedQuery | None = None) -> Handler:
    """Ask the email service for the confirmation (a stable id: a retry asks only once),
    addressed with the customer's CRM profile when the `crm.profile` query is declared."""

    async def confirm(incoming: Incoming[OrderCreatedV1]) -> None:
        order = incoming.data
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{incoming.event.id}/confirmation"))
        variables: dict[str, Any] = {
            "name": order.customer.name,
            "order_id": order.order_id,
            "total": f"{order.total_minor / 100:.2f} {order.currency}",
            "city": order.shipping_address.city,
            "lines": [{"name": ln.name, "quantity": ln.quantity} for ln in order.lines],
        }
        if profile is not None:
            # Never waits past the query's timeout: a cached, stale or fallback profile.
            answer = await profile.get(customer_id=order.customer.id)
            variables.update(profile_fields(answer.value))
        await incoming.publish(
            EmailRequestedV1(
                to=order.customer.email,
                template=CONFIRMATION_TEMPLATE,
                variables=variables,
                priority="high",
            ),
            event_id=request_id,
        )
        await incoming.publish(
            OrderConfirmationRequestedV1(
                order_id=order.order_id, email_request_id=request_id, requested_at=utc_now()
            ),
            require_route=False,
        )

    return confirm


def notify_warehouse(gateway: Gateway, integration: str = "warehouse") -> Handler:
    """Tell the warehouse to ship (idempotency key = event id)."""

    async def notify(incoming: Incoming[OrderCreatedV1]) -> None:
        order = incoming.data
        response = await gateway.request(
            integration,
            "POST",
            WAREHOUSE_PATH,
            json={
                "order_id": order.order_id,
                "lines": [ln.model_dump(mode="json") for ln in order.lines],
                "ship_to": order.shipping_address.model_dump(mode="json"),
                "recipient": order.customer.name,
            },
            idempotency_key=incoming.event.id,
        )
        reference = _reference(response)
        incoming.answered(response.status_code, f"shipment {reference}" if reference else None)
        await incoming.publish(
            OrderWarehouseNotifiedV1(
                order_id=order.order_id,
                shipment_reference=reference,
                notified_at=utc_now(),
            ),
            require_route=False,
        )

    return notify


def profile_fields(found: Any) -> dict[str, str]:
    """The CRM profile's name, locale and tier that are short text; anything else is left out
    (the CRM's answer is not trusted to be well-formed)."""
    if not isinstance(found, dict):
        return {}
    return {
        field: value
        for field in PROFILE_FIELDS
        if isinstance(value := found.get(field), str) and 0 < len(value) <= MAX_PROFILE_CHARS
    }


def _reference(response: httpx.Response) -> str | None:
    try:
        answer: Any = json_body(response)
    except UnreadableJsonError:
        return None  # the warehouse took the order; a reference is only a courtesy
    found = answer.get("id") if isinstance(answer, dict) else None
    return str(found)[:200] if found is not None else None
