"""W3C trace context in headers: what is written is read back; whatever else arrives is ignored."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, TraceFlags, TraceState, get_current_span

from services.publisher.fanout import DESTINATION_HEADER, fan_out
from services.publisher.metrics import PublisherMetrics
from shared.config import DestinationConfig
from shared.errors import Reason, TransientError
from shared.failures import Failure, deferred_copy, failed_copy, replayed_copy
from shared.publishing import build_event, event_message
from shared.testing import HandlerKit, MemoryMessage
from shared.tracing import carried, extract, inject
from shared.tracing.context import MAX_TRACEPARENT, MAX_TRACESTATE, traceparent
from tests.support.events import sample_order

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
STATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def parent(context: Context | None) -> SpanContext:
    assert context is not None
    return get_current_span(context).get_span_context()


def test_what_is_injected_is_extracted_unchanged() -> None:
    sent = SpanContext(
        TRACE_ID, SPAN_ID, False, TraceFlags(1), TraceState([("congo", "t61rcWkgMzE")])
    )
    headers: dict[str, Any] = {"x-other": 1}
    inject(headers, sent)
    assert headers["traceparent"] == VALID
    assert headers["tracestate"] == "congo=t61rcWkgMzE"
    got = parent(extract(headers))
    assert (got.trace_id, got.span_id, got.trace_flags) == (TRACE_ID, SPAN_ID, 1)
    assert dict(got.trace_state) == {"congo": "t61rcWkgMzE"}
    assert got.is_remote


def test_an_invalid_span_injects_nothing() -> None:
    headers: dict[str, Any] = {}
    inject(headers, get_current_span().get_span_context())  # outside any span
    assert headers == {}


def test_bytes_values_are_read_as_amqp_clients_hand_them_over() -> None:
    got = parent(extract({"traceparent": VALID.encode(), "tracestate": bytearray(b"a=b")}))
    assert (got.trace_id, dict(got.trace_state)) == (TRACE_ID, {"a": "b"})


def test_a_door_leaves_the_senders_tracestate_behind() -> None:
    got = parent(extract({"traceparent": VALID, "tracestate": STATE}, with_state=False))
    assert got.trace_id == TRACE_ID
    assert not got.trace_state


def test_a_later_version_may_carry_more_fields() -> None:
    later = "cc" + VALID[2:] + "-what-the-future-holds"
    assert parent(extract({"traceparent": later})).span_id == SPAN_ID


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param(VALID.upper(), id="uppercase"),
        pytest.param("ff" + VALID[2:], id="version ff"),
        pytest.param(VALID + "-extra", id="version 00 with a fifth field"),
        pytest.param(VALID + "\n", id="trailing newline"),
        pytest.param(VALID[:-1], id="short flags"),
        pytest.param("00-" + "0" * 32 + VALID[35:], id="zero trace id"),
        pytest.param(VALID[:36] + "0" * 16 + VALID[52:], id="zero span id"),
        pytest.param(VALID.replace("-", "_"), id="wrong separators"),
        pytest.param(VALID.replace("4bf9", "4bf\u00e9"), id="not ascii"),
        pytest.param("cc" + VALID[2:] + "-" + "x" * MAX_TRACEPARENT, id="oversized"),
        pytest.param(b"\xff\xfe" + VALID.encode(), id="undecodable bytes"),
        pytest.param(12345, id="a number"),
        pytest.param([VALID], id="a list"),
        pytest.param({"v": VALID}, id="a table"),
        pytest.param(None, id="none"),
    ],
)
def test_a_malformed_traceparent_names_no_parent(
    value: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert extract({"traceparent": value, "tracestate": STATE}) is None
    assert caplog.records == []  # a hostile value costs no log line


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("Upper=1", id="uppercase key"),
        pytest.param("a=1,a=2", id="duplicate key"),
        pytest.param("a=b=c", id="equals in the value"),
        pytest.param(",".join(f"k{n}=v" for n in range(33)), id="33 members"),
        pytest.param("a=" + "v" * MAX_TRACESTATE, id="oversized"),
        pytest.param(b"a=\xff", id="undecodable bytes"),
        pytest.param(7, id="a number"),
    ],
)
def test_a_malformed_tracestate_is_dropped_and_the_parent_kept(
    state: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        got = parent(extract({"traceparent": VALID, "tracestate": state}))
    assert got.span_id == SPAN_ID
    assert not got.trace_state
    assert caplog.records == []


def test_traceparent_is_what_w3c_specifies() -> None:
    assert traceparent(SpanContext(TRACE_ID, SPAN_ID, False, TraceFlags(1))) == VALID


def test_only_the_trace_headers_are_carried() -> None:
    headers = {"traceparent": VALID, "tracestate": STATE, "x-eventyard-attempts": 2}
    assert carried(headers) == {"traceparent": VALID, "tracestate": STATE}
    assert carried(None) == {}


# --- copies keep the context of the message they copy -----------------------------------------


def traced_message() -> AbstractIncomingMessage:
    headers = {"traceparent": VALID, "tracestate": STATE, "x-death": []}
    message = MemoryMessage(b"{}", message_id="e1", headers=headers, routing_key="k")
    return cast(AbstractIncomingMessage, message)


def test_retry_deferred_parked_and_replayed_copies_keep_the_original_context() -> None:
    message = traced_message()
    failure = Failure(
        queue="q",
        routing_key="k",
        attempts=1,
        reason=Reason.TRANSIENT,
        error=TransientError("503"),
        error_text="TransientError: 503",
        service="tests",
        version="0",
        at=datetime.now(UTC),
    )
    copies = [
        failed_copy(message, failure),
        deferred_copy(message),
        replayed_copy(message, datetime.now(UTC)),
    ]
    for copy in copies:
        assert carried(copy.headers) == {"traceparent": VALID, "tracestate": STATE}


async def test_the_legacy_fan_outs_copies_keep_it_too() -> None:
    kit = HandlerKit(service="publisher")
    partner = DestinationConfig.model_validate({"url": "https://a.example/", "events": ["#"]})
    handler = fan_out({"partner": partner}, kit.confirmer, PublisherMetrics(kit.metrics.registry))
    message = event_message(
        build_event(sample_order("ord_1"), source="tests"), {"traceparent": VALID}
    )
    result = await kit.run(handler, message)
    [copy] = result.sent
    assert copy.message.headers == {"traceparent": VALID, DESTINATION_HEADER: "partner"}
