"""The composition root: `faststream run examples.faststream_service.main:create_app --factory`."""

from __future__ import annotations

import os

from faststream import FastStream
from prometheus_client import CollectorRegistry

from examples.faststream_service.service import INTEGRATION, app, loyalty_broker
from shared.gateway import EndpointPolicy, Gateway
from shared.redact import Redactor


def create_app() -> FastStream:
    """Read the environment (at start, not at import), build the gateway, broker and app."""
    policy = EndpointPolicy(
        INTEGRATION,
        os.environ["LOYALTY_BASE_URL"],
        auth="bearer",
        credentials=("LOYALTY_TOKEN",),
    )
    gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())
    broker = loyalty_broker(os.environ["EVENTYARD_BROKER_URL"], gateway)
    service = app(broker)
    service.after_shutdown(gateway.aclose)
    return service
