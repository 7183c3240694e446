"""What an analytics provider is to the yard: somewhere a tracked event is sent once."""

from __future__ import annotations

from typing import Protocol

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import CloudEvent


class AnalyticsProvider(Protocol):
    """Sends one tracked event to one provider; raises if it did not take it."""

    name: str  # the integration's name

    async def track(self, event: CloudEvent[AnalyticsTrackedV1]) -> None:
        """Send it once (the caller counts a failure; nobody retries it)."""
        ...
