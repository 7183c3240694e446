"""Spans of every service in a test, kept in memory by the SDK's own exporter."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

from shared.tracing import Tracing
from shared.tracing.context import parse_traceparent
from shared.tracing.sdk import tracer_provider


class Spans:
    """One in-memory exporter; each service's `Tracing` writes its finished spans there."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()

    def tracing(self, service: str) -> Tracing:
        """A service's tracing, its spans named after `service` as in production."""
        return Tracing(tracer_provider(service, SimpleSpanProcessor(self.exporter)))

    @property
    def finished(self) -> Sequence[ReadableSpan]:
        """Every span ended so far, in the order they ended."""
        return self.exporter.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        """The finished spans called `name`."""
        return [span for span in self.finished if span.name == name]

    def one(self, name: str, **attributes: object) -> ReadableSpan:
        """The only finished span called `name` with these attributes."""
        found = [
            span
            for span in self.named(name)
            if all((span.attributes or {}).get(k) == v for k, v in attributes.items())
        ]
        assert len(found) == 1, (name, attributes, [s.name for s in self.finished])
        return found[0]


def context_of(span: ReadableSpan) -> SpanContext:
    """A finished span's own context (the SDK types it as optional)."""
    context: SpanContext | None = span.context
    assert context is not None
    return context


def parent_of(span: ReadableSpan) -> int | None:
    """The span id of a span's parent; None for a root span."""
    return span.parent.span_id if span.parent is not None else None


def named_by(traceparent: object) -> SpanContext:
    """The span a `traceparent` value names (it must be text naming one)."""
    assert isinstance(traceparent, str), traceparent
    span = parse_traceparent(traceparent)
    assert span is not None, traceparent
    return span
