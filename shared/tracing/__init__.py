"""Trace context through every hop: W3C headers on messages and HTTP calls, and the spans.

Only OpenTelemetry's API is imported here; its SDK only once a service turns tracing on.
"""

from shared.tracing.context import TRACE_HEADERS, carried, current_trace, extract, inject
from shared.tracing.server import ServerSpans
from shared.tracing.spans import Tracing, answered, failed, settled
from shared.tracing.start import start_tracing

__all__ = [
    "TRACE_HEADERS",
    "ServerSpans",
    "Tracing",
    "answered",
    "carried",
    "current_trace",
    "extract",
    "failed",
    "inject",
    "settled",
    "start_tracing",
]
