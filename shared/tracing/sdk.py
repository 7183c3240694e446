"""The OpenTelemetry SDK behind a service's tracer: spans batched to an OTLP/HTTP collector.

Imported only once tracing is on (the `tracing` extra): nothing else in eventyard imports the SDK.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import TracingSettings
from shared.version import eventyard_version

NAMESPACE = "eventyard"


def tracer_provider(service: str, processor: SpanProcessor) -> TracerProvider:
    """A provider whose spans name `service` (in the `eventyard` namespace) and go to `processor`.

    The sampler is the SDK's: OTEL_TRACES_SAMPLER and its argument, else every trace a caller
    did not mark unsampled.
    """
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": NAMESPACE,
            "service.version": eventyard_version(),
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider


def otlp_processor(settings: TracingSettings) -> SpanProcessor:
    """Spans batched in a background thread and sent over OTLP/HTTP.

    Without an endpoint, the exporter's own: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318/v1/traces. Headers (a collector's
    token), timeout and compression come from the OTEL_EXPORTER_OTLP_* variables as usual.
    """
    endpoint = str(settings.otlp_endpoint) if settings.otlp_endpoint is not None else None
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
