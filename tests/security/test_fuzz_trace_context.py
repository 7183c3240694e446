"""Property-based fuzz of the trace context that comes in at the doors.

A `traceparent` (and `tracestate`) arrives from outside with every dropped message and every
webhook, and from any producer with every message. Invariants, whatever arrives: extraction
never raises and never logs; it names a parent only when the value is a valid W3C one, and then
exactly that one; a request is answered and a message handled as if no header had come; the
sender's tracestate never passes a door. CI runs each with a fixed budget; `pytest -m fuzz_long
tests/security` runs the same properties with a long one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import get_current_span
from starlette.types import Message

from shared.publishing import build_event, event_message
from shared.testing import HandlerKit, MemoryMessage
from shared.tracing import ServerSpans, extract
from shared.tracing.context import parse_traceparent, traceparent
from shared.tracing.server import caller_traceparent
from tests.support.events import sample_order
from tests.support.tracing import Spans, context_of, parent_of

CI_EXAMPLES = 200
LONG_EXAMPLES = 5000
BUDGETS = [
    pytest.param(CI_EXAMPLES, id="ci"),
    pytest.param(LONG_EXAMPLES, id="long", marks=pytest.mark.fuzz_long),
]


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def silent() -> Iterator[None]:
    """Fail if anything is logged meanwhile: a hostile header must cost no log line."""
    root, handler = logging.getLogger(), Recorded()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert [r.getMessage() for r in handler.records] == []


def mostly(
    value: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """`value` three times in four, else one of `others`: most inputs are near misses that get
    deep into the parser, and every check still sees noise. (`one_of(value, value, value, …)`
    would not weigh it: hypothesis counts a strategy given twice once.)"""
    return st.tuples(st.integers(0, 3), value, st.one_of(*others)).map(
        lambda drawn: drawn[1] if drawn[0] else drawn[2]
    )


# Near misses as well as noise: the parser is only interesting close to the grammar.
hex_text = st.text("0123456789abcdefABCDEF-xz \t\n", max_size=40)
fields = st.tuples(
    mostly(st.sampled_from(["00", "01", "cc"]), st.sampled_from(["ff", "0", "FF"]), hex_text),
    mostly(st.integers(1, 2**128 - 1).map("{:032x}".format), st.just("0" * 32), hex_text),
    mostly(st.integers(1, 2**64 - 1).map("{:016x}".format), st.just("0" * 16), hex_text),
    mostly(st.integers(0, 255).map("{:02x}".format), hex_text),
    mostly(
        st.just(""), st.sampled_from(["-", "-more", "-x" * 300, " ", "\t"]), st.text(max_size=9)
    ),
)
traceparents = mostly(
    fields.map(lambda f: "-".join(f[:4]) + f[4]),
    fields.map(lambda f: ("-".join(f[:4]) + f[4]).encode()),
    st.text(max_size=600),
    st.binary(max_size=600),
)
tracestates = st.one_of(
    st.lists(
        st.tuples(st.text("abz09_-*/@A=", max_size=12), st.text("az09 =,~\x00", max_size=12)),
        max_size=40,
    ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)),
    st.text(max_size=700),
    st.binary(max_size=700),
)
amqp_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals(allow_nan=False)
    | st.datetimes(timezones=st.just(UTC))
    | st.text(max_size=80)
    | st.binary(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
amqp_headers = st.builds(
    lambda trace, others: {**others, **trace},
    st.fixed_dictionaries(
        {}, optional={"traceparent": mostly(traceparents, amqp_values), "tracestate": tracestates}
    ),
    st.dictionaries(st.text(max_size=12), amqp_values, max_size=4),
)


# The W3C grammar spelled out again, independently of the parser under test.
W3C = re.compile(
    r"[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x20-\x7e]*)?[ \t]*"
)


def named_parent(value: Any) -> tuple[int, int, int] | None:
    """Trace id, span id and flags a traceparent header value names, whatever its type."""
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or len(value) > 512:
        return None
    match = W3C.fullmatch(value)
    if match is None or match[1] == "ff" or (match[1] == "00" and match[5]):
        return None
    trace_id, span_id, flags = int(match[2], 16), int(match[3], 16), int(match[4], 16)
    return (trace_id, span_id, flags) if trace_id and span_id else None


def expected_parent(value: Any) -> int | None:
    """The span id a traceparent header value names; None when it names none."""
    parent = named_parent(value)
    return parent[1] if parent is not None else None


def recorded(value: Any) -> int:
    """How many spans a request or message with this traceparent leaves: none when the caller
    said it does not sample this trace (the SDK's default sampler follows the caller)."""
    parent = named_parent(value)
    return 0 if parent is not None and not parent[2] & 1 else 1


@pytest.mark.parametrize("budget", BUDGETS)
def test_extraction_names_a_parent_only_for_a_valid_traceparent(budget: int) -> None:
    @fuzz_settings(budget)
    @given(headers=amqp_headers, door=st.booleans())
    def fuzz(headers: dict[str, Any], door: bool) -> None:
        with silent():
            context = extract(headers, with_state=not door)
        if context is None:
            assert expected_parent(headers.get("traceparent")) is None
            return
        span = get_current_span(context).get_span_context()
        assert span.is_valid
        assert span.is_remote
        named = (span.trace_id, span.span_id, span.trace_flags)
        assert named == named_parent(headers.get("traceparent"))
        if door:
            assert not span.trace_state

    fuzz()


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_valid_traceparent_is_read_back_exactly(budget: int) -> None:
    @fuzz_settings(budget)
    @given(
        trace_id=st.integers(1, 2**128 - 1),
        span_id=st.integers(1, 2**64 - 1),
        flags=st.integers(0, 255),
        padding=st.sampled_from(["", " ", "\t", " \t "]),
    )
    def fuzz(trace_id: int, span_id: int, flags: int, padding: str) -> None:
        value = f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
        span = parse_traceparent(padding + value + padding)
        assert span is not None
        assert (span.trace_id, span.span_id, span.trace_flags) == (trace_id, span_id, flags)
        assert traceparent(span) == value

    fuzz()


@pytest.mark.parametrize("budget", BUDGETS)
def test_any_request_headers_are_answered_in_a_span_never_an_error(budget: int) -> None:
    spans = Spans()

    async def webhook(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = ServerSpans(webhook, tracing=spans.tracing("intake"), untraced=("/metrics",))

    @fuzz_settings(budget)
    @given(
        headers=st.lists(
            st.tuples(
                st.sampled_from([b"traceparent", b"TraceParent", b"tracestate"])
                | st.binary(max_size=12),
                traceparents.map(lambda v: v if isinstance(v, bytes) else v.encode()),
            ),
            max_size=5,
        )
    )
    def fuzz(headers: list[tuple[bytes, bytes]]) -> None:
        spans.exporter.clear()
        scope = {"type": "http", "method": "POST", "path": "/webhooks/shop", "headers": headers}
        answers: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            answers.append(message)

        with silent():
            asyncio.run(app(scope, receive, send))
        assert answers[0]["status"] == 202
        named = caller_traceparent(scope).get("traceparent")
        assert len(spans.finished) == recorded(named)
        for span in spans.finished:
            assert parent_of(span) == expected_parent(named)
            assert not context_of(span).trace_state

    fuzz()


@pytest.mark.parametrize("budget", BUDGETS)
def test_any_message_headers_leave_its_handling_unchanged(budget: int) -> None:
    spans = Spans()
    tracing = spans.tracing("publisher")
    event = build_event(sample_order(), source="tests")
    handled: list[str] = []

    async def handler(incoming: Any) -> None:
        handled.append(incoming.event.id)

    @fuzz_settings(budget)
    @given(headers=amqp_headers)
    def fuzz(headers: dict[str, Any]) -> None:
        # Only what a trace header could change: the failure history is the consumer's own.
        headers = {k: v for k, v in headers.items() if not k.startswith("x-")}
        message = MemoryMessage.of(event_message(event), "order.created.v1")
        message.headers = headers
        kit = HandlerKit(service="publisher", tracing=tracing)
        spans.exporter.clear()
        with silent():
            result = asyncio.run(kit.run(handler, message, queue="publisher.dest.partner"))
        assert result.acked
        assert handled[-1] == event.id
        named = headers.get("traceparent")
        assert len(spans.finished) == recorded(named)
        for process in spans.finished:
            assert process.name == "process publisher.dest.partner"
            assert parent_of(process) == expected_parent(named)

    fuzz()


def test_the_strategies_reach_valid_values_too() -> None:
    # A fuzz that never produced a valid traceparent would prove half of nothing.
    valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert expected_parent(valid) == 0x00F067AA0BA902B7
    assert expected_parent(Decimal(1)) is None
    assert expected_parent(datetime.now(UTC)) is None
