"""Outbound webhook delivery contracts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from contracts.base import Contract, Producers


class DeliverySucceededV1(Contract):
    """An event was delivered to a destination."""

    TYPE: ClassVar[str] = "delivery.succeeded"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"publisher"}),
        "says a partner received an event: only the publisher knows",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "destination": "partner",
                    "event_id": "0b6a3a52-5f5e-4c1e-8f3b-1f1f4a9d2c11",
                    "event_type": "order.created",
                    "attempt": 1,
                    "status_code": 200,
                    "duration_ms": 84.2,
                    "response_excerpt": '{"ok":true}',
                    "delivered_at": "2026-11-20T09:14:04Z",
                }
            ]
        }
    )

    destination: str
    event_id: str
    event_type: str
    attempt: int = Field(ge=1)
    status_code: int
    duration_ms: float = Field(ge=0)
    response_excerpt: str = Field(default="", max_length=500)
    delivered_at: AwareDatetime


class DeliveryFailedV1(Contract):
    """A delivery attempt failed; `final` says whether it will be retried."""

    TYPE: ClassVar[str] = "delivery.failed"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"publisher"}),
        "says a delivery was given up: only the publisher knows",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "destination": "partner",
                    "event_id": "0b6a3a52-5f5e-4c1e-8f3b-1f1f4a9d2c11",
                    "event_type": "order.created",
                    "attempt": 3,
                    "status_code": 503,
                    "duration_ms": 15002.7,
                    "error": "TransientError: HTTP 503 from partner",
                    "response_excerpt": "upstream unavailable",
                    "final": False,
                    "failed_at": "2026-11-20T09:16:04Z",
                }
            ]
        }
    )

    destination: str
    event_id: str
    event_type: str
    attempt: int = Field(ge=1)
    status_code: int | None = None
    duration_ms: float = Field(ge=0)
    error: str = Field(max_length=1000)
    response_excerpt: str = Field(default="", max_length=500)
    final: bool
    failed_at: AwareDatetime
