"""Talking to the yard's own services from the command line (through the gateway, as always)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from shared.redact import Redactor

if TYPE_CHECKING:
    from shared.gateway import Gateway

LOCAL_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def local_gateway(
    urls: Mapping[str, str], *, timeout: float = 3.0, redactor: Redactor | None = None
) -> Gateway:
    """A gateway whose endpoints are our own services on loopback: one try, never fail fast."""
    # Imported here: the HTTP stack is a quarter of the CLI's start-up, for a few commands.
    from shared.gateway import EndpointPolicy, Gateway  # noqa: PLC0415

    return Gateway(
        [
            EndpointPolicy(
                name,
                url,
                timeout=timeout,
                max_retries=0,
                allow_private_network=True,
                breaker_min_calls=1_000_000,  # a local service that was down may be up now
                # /metrics of a yard with many destinations and queues passes the 1 MiB default.
                max_response_bytes=LOCAL_MAX_RESPONSE_BYTES,
            )
            for name, url in urls.items()
        ],
        registry=CollectorRegistry(),
        redactor=redactor or Redactor(),
    )
