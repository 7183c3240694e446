"""Inbound webhook contracts."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from contracts.base import INTAKE_HTTP, Contract, Producers


class WebhookReceivedV1(Contract):
    """A verified webhook from a partner, as it arrived.

    Published as type `webhook.received.<source>`, so `webhook.received.shop.v1` binds one
    source and `webhook.received.*.v1` binds them all.
    """

    TYPE: ClassVar[str] = "webhook.received"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({INTAKE_HTTP}),
        "downstream treats it as a partner's verified webhook: only intake's HTTP door "
        "checks signatures",
    )
    FAMILY: ClassVar[bool] = True
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "shop",
                    "webhook_id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
                    "provider_type": "order.paid",
                    "received_at": "2026-11-20T09:14:03Z",
                    "payload": {
                        "type": "order.paid",
                        "data": {"order_id": "ord_7Hq2LmX9", "total_minor": 1798},
                    },
                }
            ]
        }
    )

    source: str = Field(min_length=1, max_length=100)
    webhook_id: str = Field(min_length=1, max_length=200)
    provider_type: str | None = Field(default=None, max_length=200)
    received_at: AwareDatetime
    payload: Any
