"""W3C trace context (`traceparent`, `tracestate`) in and out of message and request headers.

What comes in is untrusted (a producer at the `intake` door, a webhook's sender): a value that
is malformed, oversized or of the wrong type is ignored, never an error and never logged, and
a valid one only ever parents spans. Parsed here rather than by OpenTelemetry's propagator,
which logs what it refuses, quoting it: a log line per hostile message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    TraceState,
    format_span_id,
    format_trace_id,
    get_current_span,
    set_span_in_context,
)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_HEADERS = (TRACEPARENT, TRACESTATE)
# A version-00 traceparent is 55 characters; later versions may append fields.
MAX_TRACEPARENT = 512
# What W3C asks every vendor to pass on; a longer tracestate is dropped, not cut.
MAX_TRACESTATE = 512
MAX_TRACESTATE_MEMBERS = 32

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[ -~]*)?")
# W3C's key and value grammar (the same as OpenTelemetry's TraceState, so it never refuses one).
_KEY = r"[a-z][_0-9a-z\-\*\/]{0,255}|[a-z0-9][_0-9a-z\-\*\/]{0,240}@[a-z][_0-9a-z\-\*\/]{0,13}"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(f"({_KEY})=({_VALUE})")


def extract(headers: Mapping[str, Any] | None, *, with_state: bool = True) -> Context | None:
    """The remote parent the headers name, or None when they name none validly.

    `with_state=False` leaves the sender's `tracestate` behind (a door: what an outsider put
    there would otherwise ride along to every partner we call).
    """
    if not headers:
        return None
    parent = parse_traceparent(_text(headers.get(TRACEPARENT), MAX_TRACEPARENT))
    if parent is None:
        return None
    state = parse_tracestate(_text(headers.get(TRACESTATE), MAX_TRACESTATE)) if with_state else None
    if state:
        parent = SpanContext(
            parent.trace_id, parent.span_id, True, parent.trace_flags, trace_state=state
        )
    return set_span_in_context(NonRecordingSpan(parent))


def inject(headers: MutableMapping[str, Any], span: SpanContext) -> None:
    """Write `span` as the parent the headers carry onward (nothing for an invalid span)."""
    if not span.is_valid:
        return
    headers[TRACEPARENT] = traceparent(span)
    if span.trace_state:
        headers[TRACESTATE] = span.trace_state.to_header()


def current_trace() -> dict[str, Any]:
    """The trace headers naming the current span; empty outside one (or with tracing off)."""
    headers: dict[str, Any] = {}
    inject(headers, get_current_span().get_span_context())
    return headers


def traceparent(span: SpanContext) -> str:
    """The version-00 `traceparent` value naming `span`."""
    trace_id, span_id = format_trace_id(span.trace_id), format_span_id(span.span_id)
    return f"00-{trace_id}-{span_id}-{span.trace_flags:02x}"


def carried(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The trace headers among `headers`, for a copy that is given other headers."""
    return {name: headers[name] for name in TRACE_HEADERS if name in headers} if headers else {}


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The span a `traceparent` value names, or None if it is not a valid one."""
    if value is None:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    # ff is forbidden; 00 has exactly four fields; a later version may have more.
    if version == "ff" or (version == "00" and rest):
        return None
    span = SpanContext(int(trace_id, 16), int(span_id, 16), True, TraceFlags(int(flags, 16)))
    return span if span.is_valid else None  # all-zero ids are invalid


def parse_tracestate(value: str | None) -> TraceState | None:
    """The vendor entries of a `tracestate` value; None if any member is malformed."""
    if not value:
        return None
    pairs: dict[str, str] = {}
    for raw in value.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        match = _MEMBER.fullmatch(member)
        if match is None or match[1] in pairs or len(pairs) == MAX_TRACESTATE_MEMBERS:
            return None
        pairs[match[1]] = match[2]
    return TraceState(list(pairs.items())) if pairs else None


def _text(value: Any, limit: int) -> str | None:
    """A header value as ASCII text of at most `limit` characters, else None."""
    if isinstance(value, bytes | bytearray):
        if len(value) > limit or not value.isascii():
            return None
        return bytes(value).decode("ascii")
    if isinstance(value, str) and len(value) <= limit and value.isascii():
        return value
    return None
