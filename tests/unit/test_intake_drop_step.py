"""intake's drop step without a broker: what a producer drops is routed or parked, and why."""

from __future__ import annotations

import aio_pika
import orjson

from contracts.envelope import CONTENT_TYPE, utc_now
from contracts.registry import resolve
from contracts.webhooks import WebhookReceivedV1
from services.intake.dropped import decode_dropped, republisher
from services.intake.routing import Router
from shared.testing import HandlerKit
from tests.support.events import sample_order

ORDER = sample_order("ord_dropped").model_dump_json().encode()


async def test_a_dropped_order_is_republished_as_an_event() -> None:
    kit = HandlerKit(service="intake")
    message = aio_pika.Message(ORDER, type="order.created.v1", message_id="drop-1")
    result = await kit.run(republisher(Router({}, kit.emitter)), message, decoder=decode_dropped)
    assert result.acked
    [event] = result.published
    assert (event.id, event.type, event.source) == ("drop-1", "order.created", "/intake/amqp")


async def test_a_forged_verified_webhook_is_parked_at_the_door() -> None:
    kit = HandlerKit(service="intake")
    resolved = resolve(WebhookReceivedV1)
    forged = resolved.envelope(
        id="forged",
        source="/webhooks/shop",
        type="webhook.received.shop",
        time=utc_now(),
        dataschema=resolved.dataschema,
        data=WebhookReceivedV1.model_json_schema()["examples"][0],
    )
    message = aio_pika.Message(forged.to_json(), content_type=CONTENT_TYPE)
    result = await kit.run(republisher(Router({}, kit.emitter)), message, decoder=decode_dropped)
    assert (result.parked, result.reason, result.attempts) == (True, "contract", 1)
    assert "contract not accepted at this door" in str(result.error)
    assert result.published == []


async def test_a_drop_nobody_is_bound_for_is_parked_unroutable() -> None:
    kit = HandlerKit(service="intake", bound={"order.created.v1"})
    email = {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}
    message = aio_pika.Message(orjson.dumps(email), type="email.requested.v1")
    result = await kit.run(republisher(Router({}, kit.emitter)), message, decoder=decode_dropped)
    assert (result.parked, result.reason) == (True, "unroutable")


async def test_a_drop_that_is_not_json_is_parked_with_the_reason() -> None:
    kit = HandlerKit(service="intake")
    message = aio_pika.Message(b"<order/>", type="order.created.v1")
    result = await kit.run(republisher(Router({}, kit.emitter)), message, decoder=decode_dropped)
    assert (result.parked, result.reason) == (True, "contract")
    assert "Invalid JSON" in str(result.error)
