"""What a door reads is bounded before it is parsed: nesting depth, encodings, field lengths.

A deep body used to parse and then fail later with a 500 (or climb the retry ladder); an
over-long id climbed the whole ladder before it was parked. Now each is refused at the door.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
import pytest

from contracts.emails import EmailRequestedV1
from contracts.envelope import CONTENT_TYPE, utc_now
from contracts.registry import envelope_model
from services.intake.app import QUEUE
from shared import headers as h
from shared.settings import Settings
from tests.support import signing
from tests.support.events import sample_order
from tests.support.intake import Intake, intake_running
from tests.support.waiting import eventually

SHOP = "whsec_" + base64.b64encode(b"shop-secret-0123456789").decode()
CONFIG = {"sources": {"shop": {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"]}}}
ORDER = sample_order("ord_bounded").model_dump_json().encode()


@pytest.fixture
async def intake(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Intake]:
    async with intake_running(settings, monkeypatch, CONFIG, {"SHOP_SECRET": SHOP}, ["#"]) as i:
        yield i


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"down": value}
    return value


def deep_webhook(levels: int) -> bytes:
    # Written out: orjson itself will not serialize more than 255 levels.
    return b'{"type": "customer.updated", "data": ' + b"[" * levels + b"]" * levels + b"}"


def signed_bytes(body: bytes, msg_id: str) -> dict[str, str]:
    """Standard Webhooks headers for a body that is not text (the package wants text)."""
    stamp = str(int(time.time()))
    key = base64.b64decode(SHOP.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


async def parked_once(intake: Intake) -> aio_pika.abc.AbstractIncomingMessage:
    """The one message parked from the drop queue: parked at its first attempt, not retried."""
    await eventually(lambda: intake.depth(QUEUE.parked))
    [parked] = await intake.parked()
    assert parked.headers[h.ATTEMPTS] == 1
    assert parked.headers[h.REASON] == "contract"
    assert await intake.captured() == []
    return parked


@pytest.mark.parametrize("levels", [100, 600])
async def test_a_signed_webhook_nested_too_deep_gets_400_never_500(
    intake: Intake, levels: int
) -> None:
    body = deep_webhook(levels)
    answer = await intake.post("shop", body, signing.standard_webhooks(SHOP, body, f"deep{levels}"))
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body's JSON nested deeper than 64 levels"}
    assert await intake.captured() == []


async def test_a_webhook_nested_within_the_limit_is_accepted(intake: Intake) -> None:
    body = deep_webhook(60)
    answer = await intake.post("shop", body, signing.standard_webhooks(SHOP, body, "deep60"))
    assert answer.status_code == 202


async def test_a_dropped_message_nested_too_deep_is_parked_with_the_reason(intake: Intake) -> None:
    email = {"to": "ada@example.com", "template": "welcome", "variables": nested(100)}
    await intake.drop(aio_pika.Message(orjson.dumps(email), type=EmailRequestedV1.key()))
    parked = await parked_once(intake)
    assert "nested deeper than 64 levels" in str(parked.headers[h.ERROR_MESSAGE])


async def test_a_compressed_webhook_is_refused_before_anything_is_inflated(intake: Intake) -> None:
    body = gzip.compress(b'{"type": "customer.updated", "data": {}}')
    headers = {**signed_bytes(body, "gz"), "Content-Encoding": "gzip"}
    answer = await intake.post("shop", body, headers)
    assert answer.status_code == 415
    assert "Content-Encoding" in answer.json()["error"]


async def test_a_compressed_dropped_message_is_parked_with_the_reason(intake: Intake) -> None:
    message = aio_pika.Message(
        gzip.compress(ORDER), type="order.created.v1", content_encoding="gzip"
    )
    await intake.drop(message)
    parked = await parked_once(intake)
    assert "content encoding 'gzip' is not accepted" in str(parked.headers[h.ERROR_MESSAGE])


LONG = "x" * 10_000
AMQP_LONG = "x" * 250  # AMQP short strings end at 255 bytes; every limit is below that
OVER_LONG_PROPERTIES = {
    "message_id": aio_pika.Message(ORDER, type="order.created.v1", message_id=AMQP_LONG),
    "app_id": aio_pika.Message(ORDER, type="order.created.v1", app_id=AMQP_LONG),
    "correlation_id": aio_pika.Message(ORDER, type="order.created.v1", correlation_id=AMQP_LONG),
    "message_id with a line break": aio_pika.Message(
        ORDER, type="order.created.v1", message_id="ok\r\nx-forged: 1"
    ),
    "a header value": aio_pika.Message(
        ORDER, type="order.created.v1", headers={"note": "y" * 100_000}
    ),
}


@pytest.mark.parametrize("message", OVER_LONG_PROPERTIES.values(), ids=OVER_LONG_PROPERTIES.keys())
async def test_an_over_long_property_is_parked_at_once_not_retried(
    intake: Intake, message: aio_pika.Message
) -> None:
    await intake.drop(message)
    parked = await parked_once(intake)
    assert "invalid" in str(parked.headers[h.ERROR_MESSAGE])


@pytest.mark.parametrize("attribute", ["id", "subject", "correlationid", "source"])
async def test_an_over_long_cloudevent_attribute_is_parked_at_once(
    intake: Intake, attribute: str
) -> None:
    event = envelope_model(EmailRequestedV1)(
        id="e-1",
        source="/checkout",
        type=EmailRequestedV1.TYPE,
        time=utc_now(),
        dataschema=EmailRequestedV1.dataschema(),
        data=EmailRequestedV1(to="ada@example.com", subject="Hi", body="Hello"),
    )
    body = orjson.loads(event.to_json())
    body[attribute] = LONG
    await intake.drop(aio_pika.Message(orjson.dumps(body), content_type=CONTENT_TYPE))
    parked = await parked_once(intake)
    assert attribute in str(parked.headers[h.ERROR_MESSAGE])


async def test_an_over_long_webhook_id_gets_400(intake: Intake) -> None:
    body = b'{"type": "customer.updated", "data": {}}'
    answer = await intake.post("shop", body, signing.standard_webhooks(SHOP, body, "m" * 201))
    assert answer.status_code == 400
    assert answer.json() == {"error": "the webhook id is too long"}
