"""Integration health contracts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from contracts.base import Contract, Producers
from contracts.fields import HealthStatus


class IntegrationHealthChangedV1(Contract):
    """An integration's health changed (published only on a change)."""

    TYPE: ClassVar[str] = "integration.health.changed"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"health"}),
        "an integration's health as the health service measured it",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "integration": "crm",
                    "previous": "healthy",
                    "current": "unhealthy",
                    "reason": "GET /health timed out after 2.0 s",
                    "criticality": "low",
                    "changed_at": "2026-11-20T09:20:00Z",
                }
            ]
        }
    )

    integration: str
    previous: HealthStatus | None = None
    current: HealthStatus
    reason: str = Field(max_length=500)
    criticality: str | None = None
    changed_at: AwareDatetime
