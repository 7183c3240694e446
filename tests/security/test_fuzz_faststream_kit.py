"""Property-based fuzz of the FastStream kit's consume path: a new way in for any message.

Whatever body, content type, AMQP type and headers arrive on a kit subscriber's queue, the
message ends acked, retried or parked with a reason: never an exception out of the consumer,
and never the handler called with something that is not a valid event of its contract.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.orders import OrderCreatedV1
from shared import headers as h
from shared.faststream import Incoming, YardBroker, yard_subscriber
from shared.faststream_testing import yard_test_broker
from shared.publishing import build_event
from shared.topology import EVENTS_EXCHANGE
from tests.support.events import sample_order

QUEUE = "fuzz.orders"
KEY = OrderCreatedV1.key()
VALID = orjson.loads(build_event(sample_order(), source="fuzz").to_json())
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
HEADER_VALUES = st.one_of(
    st.integers(-5, 50), st.text(max_size=20), st.binary(max_size=20), st.none(), JSON
)
HEADERS = st.dictionaries(
    st.sampled_from([h.ATTEMPTS, h.DEFERRALS, "x-death", "x-delivery-count"])
    | st.text(max_size=10),
    HEADER_VALUES,
    max_size=4,
)


def bodies() -> st.SearchStrategy[bytes]:
    """Random bytes, random JSON, and the valid event with one attribute replaced."""
    mutated = st.builds(
        lambda name, value: orjson.dumps({**VALID, name: value}),
        st.sampled_from(sorted(VALID)),
        JSON,
    )
    return st.one_of(st.binary(max_size=200), JSON.map(orjson.dumps), mutated)


@pytest.mark.parametrize("failure", [None, RuntimeError("boom")], ids=["returns", "raises"])
def test_every_message_ends_acked_retried_or_parked_with_a_reason(
    failure: Exception | None,
) -> None:
    @given(
        body=bodies(),
        content_type=st.sampled_from([None, "application/cloudevents+json", "text/plain"]),
        message_type=st.sampled_from([None, KEY, "order.created.v7", "not a key", ""]),
        headers=HEADERS,
    )
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def run(
        body: bytes, content_type: str | None, message_type: str | None, headers: dict[str, Any]
    ) -> None:
        results, seen = asyncio.run(deliver(body, content_type, message_type, headers, failure))
        [result] = results
        assert result.outcome in {"acked", "retried", "parked"}
        if result.parked:
            assert result.reason in {"contract", "exhausted", "permanent"}
            assert result.error
        for incoming in seen:
            assert isinstance(incoming.data, OrderCreatedV1)
        if not seen:
            assert result.parked
            assert result.reason == "contract"

    run()


async def deliver(
    body: bytes,
    content_type: str | None,
    message_type: str | None,
    headers: dict[str, Any],
    failure: Exception | None,
) -> tuple[list[Any], list[Incoming[Any]]]:
    broker = YardBroker("amqp://guest:guest@localhost/", service="fuzz", delays=(1.0, 2.0))
    seen: list[Incoming[Any]] = []

    @yard_subscriber(broker, QUEUE, OrderCreatedV1)
    async def handle(incoming: Incoming[OrderCreatedV1]) -> None:
        seen.append(incoming)
        if failure is not None:
            raise failure

    async with yard_test_broker(broker) as yard:
        await broker.publish(
            body,
            exchange=EVENTS_EXCHANGE,
            routing_key=KEY,
            content_type=content_type,
            message_type=message_type,
            headers=headers,
        )
    return yard.results, seen
