"""shared.testing runs a handler through the real consume path, against an in-memory broker."""

from __future__ import annotations

from datetime import timedelta

import aio_pika

from contracts.envelope import utc_now
from contracts.orders import OrderCreatedV1, OrderCrmSyncedV1
from shared.consumer import Incoming
from shared.errors import DeferredError, PermanentError, TransientError
from shared.testing import HandlerKit
from tests.support.events import sample_order

ORDER = sample_order("ord_kit")


async def finishes(incoming: Incoming[OrderCreatedV1]) -> None:
    await incoming.publish(
        OrderCrmSyncedV1(
            order_id=incoming.data.order_id,
            customer_id=incoming.data.customer.id,
            crm_reference=None,
            synced_at=utc_now(),
        )
    )


async def down(_: Incoming[OrderCreatedV1]) -> None:
    raise TransientError("crm answered 503")


async def refuses(_: Incoming[OrderCreatedV1]) -> None:
    raise PermanentError("crm refused the order")


async def later(_: Incoming[OrderCreatedV1]) -> None:
    raise DeferredError(utc_now() + timedelta(seconds=40))


async def test_a_handler_that_finishes_is_acked_with_what_it_published() -> None:
    result = await HandlerKit().run(finishes, ORDER)
    assert result.acked
    [event] = result.published
    assert event.type == "order.crm_synced"
    assert event.causationid is not None
    assert event.data.order_id == "ord_kit"


async def test_a_transient_failure_climbs_the_ladder_one_rung_per_attempt() -> None:
    kit = HandlerKit()
    first = await kit.run(down, ORDER)
    second = await kit.run(down, ORDER, attempt=2)
    assert (first.retried, first.rung, first.attempts) == (True, "retry.5s", 1)
    assert (second.rung, second.attempts) == ("retry.30s", 2)
    assert first.error == "TransientError: crm answered 503"


async def test_past_the_last_rung_the_message_is_parked_exhausted() -> None:
    result = await HandlerKit().run(down, ORDER, attempt=4)
    assert (result.parked, result.reason, result.attempts) == (True, "exhausted", 4)


async def test_a_permanent_failure_is_parked_at_once() -> None:
    result = await HandlerKit().run(refuses, ORDER)
    assert (result.parked, result.reason, result.attempts) == (True, "permanent", 1)


async def test_a_deferral_waits_on_the_ladder_without_an_attempt() -> None:
    result = await HandlerKit().run(later, ORDER)
    assert (result.outcome, result.rung, result.attempts) == ("deferred", "retry.30s", None)


async def test_a_message_that_is_no_valid_event_is_parked_as_a_contract_error() -> None:
    bad = aio_pika.Message(b'{"order_id": 42}', type="order.created.v1")  # no envelope
    result = await HandlerKit().run(finishes, bad)
    assert (result.parked, result.reason) == (True, "contract")
    assert "id: Field required" in str(result.error)


async def test_a_publish_nobody_is_bound_for_is_a_retry() -> None:
    result = await HandlerKit(bound={"order.created.v1"}).run(finishes, ORDER)
    assert result.retried
    assert "UnroutableError" in str(result.error)
    assert result.published == []
