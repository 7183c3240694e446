"""intake against the real broker: signed webhooks in, 202 only once stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator

import aio_pika
import orjson
import pytest

from contracts.orders import OrderCreatedV1
from services.intake.app import QUEUE
from shared import headers as h
from shared.settings import Settings
from tests.support import signing
from tests.support.events import drain, queue_depth, sample_order
from tests.support.intake import Intake, intake_running
from tests.support.waiting import eventually

SHOP_NEW = "whsec_" + base64.b64encode(b"shop-secret-new-0123456789").decode()
SHOP_OLD = "whsec_" + base64.b64encode(b"shop-secret-old-0123456789").decode()
STRIPE = "whsec_stripe_test_secret"
GITHUB = "github-secret"
GENERIC = "generic-secret"

CONFIG = {
    "sources": {
        "shop": {
            "scheme": "standard-webhooks",
            "secrets": ["SHOP_SECRET", "SHOP_SECRET_PREVIOUS"],
            "map": {"order.paid": "order.created.v1"},
        },
        "billing": {"scheme": "stripe", "secrets": ["BILLING_SECRET"], "max_body_bytes": 2048},
        "gh": {"scheme": "github", "secrets": ["GH_SECRET"]},
        "generic": {
            "scheme": "hmac-sha256",
            "secrets": ["GENERIC_SECRET"],
            "signature_header": "X-Sig",
            "signature_encoding": "base64",
            "id_header": "X-Delivery",
        },
        "lonely": {"scheme": "github", "secrets": ["GH_SECRET"]},
    }
}
CAPTURED = [
    "webhook.received.shop.v1",
    "webhook.received.billing.v1",
    "webhook.received.gh.v1",
    "webhook.received.generic.v1",
    "order.created.v1",
]


@pytest.fixture
async def intake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Intake]:
    secrets = {
        "SHOP_SECRET": SHOP_NEW,
        "SHOP_SECRET_PREVIOUS": SHOP_OLD,
        "BILLING_SECRET": STRIPE,
        "GH_SECRET": GITHUB,
        "GENERIC_SECRET": GENERIC,
    }
    async with intake_running(settings, monkeypatch, CONFIG, secrets, CAPTURED) as running_intake:
        yield running_intake


def order_paid(order_id: str = "ord_9") -> bytes:
    data = sample_order(order_id).model_dump(mode="json")
    return orjson.dumps({"type": "order.paid", "timestamp": "2026-11-20T09:14:03Z", "data": data})


async def test_each_scheme_is_accepted_and_found_on_the_broker(intake: Intake) -> None:
    generic_body = b'{"type": "ping"}'
    generic_sig = base64.b64encode(
        hmac.new(GENERIC.encode(), generic_body, hashlib.sha256).digest()
    ).decode()
    bodies = {
        "shop": (b'{"type": "customer.updated", "data": {"id": 7}}', None),
        "billing": (b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}', None),
        "gh": (b'{"ref": "refs/heads/main"}', None),
        "generic": (generic_body, {"X-Sig": generic_sig, "X-Delivery": "d-1"}),
    }
    signers = {
        "shop": lambda b: signing.standard_webhooks(SHOP_NEW, b),
        "billing": lambda b: signing.stripe(STRIPE, b),
        "gh": lambda b: signing.github(GITHUB, b),
    }
    ids = {}
    for source, (body, headers) in bodies.items():
        answer = await intake.post(source, body, headers or signers[source](body))
        assert answer.status_code == 202, (source, answer.text)
        ids[source] = answer.json()["event_id"]
    await eventually(lambda: queue_depth(intake.connection, "test.captured"))
    await eventually(lambda: _depth_at_least(intake.connection, "test.captured", len(bodies)))
    events = {e["data"]["source"]: e for e in await intake.captured()}
    assert set(events) == set(bodies)
    for source, event in events.items():
        assert event["id"] == ids[source]
        assert event["type"] == f"webhook.received.{source}"
        assert event["data"]["payload"] == orjson.loads(bodies[source][0])
    assert events["billing"]["data"]["webhook_id"] == "evt_1"
    assert events["gh"]["data"]["provider_type"] == "push"
    assert events["generic"]["data"]["webhook_id"] == "d-1"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "bad signature"),
        ("wrong_secret", "bad signature"),
        ("stale", "timestamp outside tolerance"),
        ("future", "timestamp outside tolerance"),
        ("missing", "missing signature headers"),
    ],
)
async def test_bad_signatures_get_401_and_nothing_is_published(
    intake: Intake, case: str, reason: str
) -> None:
    body = b'{"type": "customer.updated", "data": {}}'
    secret, at, sent = SHOP_NEW, time.time(), body
    if case == "tampered":
        sent = body.replace(b"updated", b"deleted")
    elif case == "wrong_secret":
        secret = "whsec_" + base64.b64encode(b"somebody-else").decode()
    elif case == "stale":
        at -= 301
    elif case == "future":
        at += 301
    headers = {} if case == "missing" else signing.standard_webhooks(secret, body, at=at)
    answer = await intake.post("shop", sent, headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": reason}
    assert await intake.captured() == []


async def test_both_rotating_secrets_pass_and_svix_headers_too(intake: Intake) -> None:
    body = b'{"type": "customer.updated", "data": {}}'
    old = await intake.post("shop", body, signing.standard_webhooks(SHOP_OLD, body, "m-old"))
    new = await intake.post(
        "shop", body, signing.standard_webhooks(SHOP_NEW, body, "m-new", prefix="svix")
    )
    assert (old.status_code, new.status_code) == (202, 202)


async def test_repeated_delivery_is_answered_200_and_published_once(intake: Intake) -> None:
    body = b'{"type": "customer.updated", "data": {}}'
    headers = signing.standard_webhooks(SHOP_NEW, body, "msg_repeat")
    first = await intake.post("shop", body, headers)
    second = await intake.post("shop", body, headers)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    await eventually(lambda: queue_depth(intake.connection, "test.captured"))
    assert len(await intake.captured()) == 1


async def test_mapped_provider_type_becomes_the_domain_contract(intake: Intake) -> None:
    body = order_paid("ord_mapped")
    answer = await intake.post("shop", body, signing.standard_webhooks(SHOP_NEW, body, "m-map"))
    assert answer.status_code == 202
    await eventually(lambda: queue_depth(intake.connection, "test.captured"))
    [event] = await intake.captured()
    assert event["type"] == OrderCreatedV1.TYPE
    assert event["dataschema"] == OrderCreatedV1.dataschema()
    assert event["data"]["order_id"] == "ord_mapped"
    assert event["id"] == answer.json()["event_id"]


async def test_mapping_failure_is_parked_with_the_reason(intake: Intake) -> None:
    body = orjson.dumps({"type": "order.paid", "data": {"order_id": 42}})
    answer = await intake.post("shop", body, signing.standard_webhooks(SHOP_NEW, body, "m-bad"))
    assert answer.status_code == 202
    assert answer.json()["parked"] == "contract"
    [parked] = await drain(intake.connection, QUEUE.parked)
    assert parked.headers[h.REASON] == "contract"
    assert "order.paid -> order.created.v1" in str(parked.headers[h.ERROR_MESSAGE])
    assert orjson.loads(parked.body)["data"]["payload"] == orjson.loads(body)
    assert await intake.captured() == []


async def test_unroutable_webhook_is_parked_not_lost(intake: Intake) -> None:
    body = b'{"zen": "keep it logically awesome"}'
    answer = await intake.post("lonely", body, signing.github(GITHUB, body))
    assert answer.status_code == 202
    assert answer.json()["parked"] == "unroutable"
    assert await queue_depth(intake.connection, QUEUE.parked) == 1


async def test_plain_refusals(intake: Intake) -> None:
    body = b'{"id": "evt_2", "type": "x"}'
    unknown = await intake.post("nobody", body, {})
    too_large = await intake.post("billing", b"{" + b" " * 4096 + b"}", {})
    not_json = await intake.post("gh", b"<xml/>", signing.github(GITHUB, b"<xml/>"))
    wrong_method = await intake.client.get(f"{intake.url}/webhooks/shop")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown source"})
    assert too_large.status_code == 413
    assert "limit" in too_large.json()["error"]
    assert (not_json.status_code, not_json.json()) == (400, {"error": "the body is not JSON"})
    assert wrong_method.status_code == 405
    assert "not allowed" in wrong_method.json()["error"]
    assert await intake.captured() == []


async def test_dropped_messages_are_validated_and_routed(intake: Intake) -> None:
    channel = await intake.connection.channel(publisher_confirms=True)
    order = sample_order("ord_dropped").model_dump_json().encode()
    drops = [
        aio_pika.Message(order, type="order.created.v1", message_id="drop-1"),
        aio_pika.Message(b"not json", type="order.created.v1"),
        aio_pika.Message(b'{"order_id": "x"}', type="order.created.v1"),
        aio_pika.Message(order, type="order.shipped.v1"),
        aio_pika.Message(order),
        aio_pika.Message(order, type="order.created.v1", content_type="text/csv"),
    ]
    for message in drops:
        await channel.default_exchange.publish(message, routing_key=QUEUE.name)
    await eventually(lambda: _depth_at_least(intake.connection, QUEUE.parked, 5))
    await eventually(lambda: queue_depth(intake.connection, "test.captured"))
    [event] = await intake.captured()
    assert event["id"] == "drop-1"
    assert event["data"]["order_id"] == "ord_dropped"
    reasons = sorted(
        str(m.headers[h.ERROR_MESSAGE]) for m in await drain(intake.connection, QUEUE.parked)
    )
    assert len(reasons) == 5
    assert all("ContractError" in r for r in reasons)
    joined = " | ".join(reasons)
    for expected in (
        "not JSON",
        "customer: Field required",
        "no contract for order.shipped.v1",
        "needs the AMQP `type` property",
        "content type 'text/csv'",
    ):
        assert expected in joined


async def _depth_at_least(connection: aio_pika.abc.AbstractConnection, name: str, n: int) -> bool:
    return await queue_depth(connection, name) >= n
