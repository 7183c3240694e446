"""order-followup's three steps without a broker: each calls its integration or asks for mail."""

from __future__ import annotations

import httpx
import orjson

from services.order_followup.handlers import notify_warehouse, request_confirmation, sync_to_crm
from shared.gateway import EndpointPolicy
from shared.gateway.testing import Harness, harness
from shared.publishing import build_event
from shared.testing import HandlerKit
from tests.support.events import sample_order

ORDER = sample_order("ord_follow")


def api(name: str, status: int, answer: object) -> Harness:
    async def respond(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=answer)

    policy = EndpointPolicy(name, "https://api.example.com/v1", auth="none", max_retries=0)
    return harness(respond, policy)


async def test_crm_sync_posts_with_the_event_id_as_key_and_says_so() -> None:
    kit, crm = HandlerKit(service="order-followup"), api("crm", 200, {"id": "crm_42"})
    result = await kit.run(sync_to_crm(crm.gateway), ORDER)
    await crm.gateway.aclose()
    assert result.acked
    [call] = crm.requests
    assert call.url.path == "/v1/orders/sync"
    assert orjson.loads(call.content)["order"]["order_id"] == "ord_follow"
    [synced] = result.published
    assert (synced.type, synced.data.crm_reference) == ("order.crm_synced", "crm_42")
    assert call.headers["idempotency-key"] == synced.causationid


async def test_a_crm_outage_retries_only_the_crm_step() -> None:
    kit, crm = HandlerKit(service="order-followup"), api("crm", 503, {})
    result = await kit.run(sync_to_crm(crm.gateway), ORDER)
    await crm.gateway.aclose()
    assert (result.retried, result.rung, result.published) == (True, "retry.5s", [])


async def test_a_crm_refusal_is_parked_at_once() -> None:
    kit, crm = HandlerKit(service="order-followup"), api("crm", 422, {"error": "bad order"})
    result = await kit.run(sync_to_crm(crm.gateway), ORDER)
    await crm.gateway.aclose()
    assert (result.parked, result.reason) == (True, "permanent")


async def test_the_confirmation_asks_for_one_email_with_a_stable_id() -> None:
    kit, order = HandlerKit(service="order-followup"), build_event(ORDER, source="/shop")
    first = await kit.run(request_confirmation(), order)
    retried = await kit.run(request_confirmation(), order, attempt=2)  # the same event again
    email, requested = first.published
    assert (email.type, email.data.template) == ("email.requested", "order_confirmation")
    assert email.data.to == ORDER.customer.email
    assert requested.data.email_request_id == email.id
    assert retried.published[0].id == email.id


async def test_the_warehouse_is_told_to_ship_and_its_reference_kept() -> None:
    kit, warehouse = HandlerKit(service="order-followup"), api("warehouse", 201, {"id": 7})
    result = await kit.run(notify_warehouse(warehouse.gateway), ORDER)
    await warehouse.gateway.aclose()
    [call] = warehouse.requests
    assert orjson.loads(call.content)["ship_to"]["city"] == ORDER.shipping_address.city
    assert result.published[0].data.shipment_reference == "7"
