"""Analytics contracts: product events for the analytics providers, fire-and-forget."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from contracts.base import ANY, Contract, Producers

PropertyValue = Annotated[str, Field(max_length=1000)] | int | float | bool | None
PropertyName = Annotated[str, Field(min_length=1, max_length=100)]
PropertyList = Annotated[list[PropertyValue], Field(max_length=100)]


class AnalyticsTrackedV1(Contract):
    """Something a user did, for the analytics providers: sent once to each, never retried."""

    TYPE: ClassVar[str] = "analytics.tracked"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({ANY}),
        "a producer's contract: any service may report what a user did, by publishing it or "
        "dropping it into the intake queue",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event": "Order Completed",
                    "user_id": "cus_1042",
                    "properties": {"order_id": "ord_7Hq2LmX9", "revenue": 17.98, "currency": "EUR"},
                    "occurred_at": "2026-11-20T09:14:04Z",
                }
            ]
        }
    )

    event: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    anonymous_id: str | None = Field(default=None, min_length=1, max_length=200)
    properties: dict[PropertyName, PropertyValue | PropertyList] = Field(
        default_factory=dict, max_length=100
    )
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _someone(self) -> AnalyticsTrackedV1:
        if self.user_id is None and self.anonymous_id is None:
            raise ValueError("give user_id or anonymous_id: an event happens to someone")
        return self

    @property
    def actor(self) -> str:
        """The user id, else the anonymous id."""
        return self.user_id or self.anonymous_id or ""
