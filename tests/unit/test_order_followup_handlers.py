"""order-followup's three steps without a broker: each calls its integration or asks for mail."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from services.order_followup.handlers import (
    notify_warehouse,
    profile_fields,
    request_confirmation,
    sync_to_crm,
)
from shared.gateway import EndpointPolicy
from shared.gateway.query import SKIP, CachedQuery, Queries, QueryPolicy
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
    # The attempts log hears what the CRM answered
    assert result.record is not None
    assert (result.record.status_code, result.record.excerpt) == (200, "crm reference crm_42")


async def test_a_crm_outage_retries_only_the_crm_step() -> None:
    kit, crm = HandlerKit(service="order-followup"), api("crm", 503, {})
    result = await kit.run(sync_to_crm(crm.gateway), ORDER)
    await crm.gateway.aclose()
    assert (result.retried, result.rung, result.published) == (True, "retry.5s", [])
    assert result.record is not None
    assert (result.record.status_code, result.record.rung) == (503, "retry.5s")


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


def profile_query(h: Harness, fallback: object = SKIP, timeout: float = 0.5) -> CachedQuery:
    policy = QueryPolicy("crm", "profile", "/customers/{customer_id}", timeout=timeout,
                         fallback=fallback)  # fmt: skip
    found = Queries(h.gateway, [policy], h.registry, clock=h.clock).get("crm", "profile")
    assert found is not None
    return found


async def test_the_confirmation_is_addressed_with_the_crm_profile() -> None:
    crm = api("crm", 200, {"name": "Ada L.", "locale": "en-GB", "tier": "gold", "x": "y"})
    kit = HandlerKit(service="order-followup")
    result = await kit.run(request_confirmation(profile_query(crm)), ORDER)
    await crm.gateway.aclose()
    [call] = crm.requests
    assert call.url.path == f"/v1/customers/{ORDER.customer.id}"
    email = result.published[0]
    variables = email.data.variables
    assert (variables["name"], variables["locale"], variables["tier"]) == (
        "Ada L.",
        "en-GB",
        "gold",
    )
    assert "x" not in variables


async def test_with_the_crm_down_the_confirmation_goes_out_with_the_fallback() -> None:
    crm = api("crm", 503, {"error": "down"})
    kit = HandlerKit(service="order-followup")
    query = profile_query(crm, fallback={"tier": "standard"})
    result = await kit.run(request_confirmation(query), ORDER)
    await crm.gateway.aclose()
    assert result.acked
    variables = result.published[0].data.variables
    assert (variables["name"], variables["tier"]) == (ORDER.customer.name, "standard")
    assert "locale" not in variables


async def test_a_hanging_crm_holds_the_confirmation_no_longer_than_the_query_timeout() -> None:
    async def hang(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={})

    crm = harness(hang, EndpointPolicy("crm", "https://api.example.com/v1", max_retries=0))
    kit = HandlerKit(service="order-followup")
    loop = asyncio.get_running_loop()
    started = loop.time()
    query = profile_query(crm, timeout=0.1)
    result = await kit.run(request_confirmation(query), ORDER)
    assert loop.time() - started < 1.0  # the query's timeout, not the CRM's 30 s
    assert result.acked
    assert result.published[0].data.variables["name"] == ORDER.customer.name
    await query.aclose()
    await crm.gateway.aclose()


def test_only_short_text_fields_of_a_profile_are_used() -> None:
    assert profile_fields(None) == {}
    assert profile_fields(["name"]) == {}
    assert profile_fields({"name": "x" * 201, "tier": 3, "locale": ""}) == {}
    assert profile_fields({"name": "Ada", "tier": "gold"}) == {"name": "Ada", "tier": "gold"}
