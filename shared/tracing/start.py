"""Tracing switched on or off once, at a service's start."""

from __future__ import annotations

from shared.errors import ConfigError
from shared.settings import TracingSettings
from shared.tracing.spans import Tracing


def start_tracing(settings: TracingSettings, service: str) -> Tracing | None:
    """The service's tracing: None when off (the SDK is not even imported), else spans to OTLP.

    ConfigError, in one line, when it is on but the `tracing` extra is not installed.
    """
    if not settings.enabled:
        return None
    try:
        from shared.tracing import sdk  # noqa: PLC0415 - only when on: see the docstring
    except ImportError as error:
        raise ConfigError(
            "tracing is on (EVENTYARD_TRACING__ENABLED) but the OpenTelemetry SDK or its "
            f"exporter is not installed (no module {error.name!r}): "
            "pip install 'eventyard[tracing]'"
        ) from None
    provider = sdk.tracer_provider(service, sdk.otlp_processor(settings))
    return Tracing(provider, close=provider.shutdown)
