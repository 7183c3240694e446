"""The handler of `publisher.analytics`: each tracked event to every provider, once.

Fire-and-forget, as the seed's analytics call was: a provider that fails or hangs is counted
and logged, never retried, never parked, never seen by whoever published the event, and never
holds up the others (they are called side by side, each within its own time limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from contracts.analytics import AnalyticsTrackedV1
from services.publisher.analytics.base import AnalyticsProvider
from services.publisher.metrics import PublisherMetrics
from shared.consumer import Incoming
from shared.redact import Redactor

log = logging.getLogger(__name__)


class Tracker:
    """Sends each `analytics.tracked.v1` to every configured provider; always acks."""

    def __init__(
        self,
        providers: Sequence[AnalyticsProvider],
        *,
        metrics: PublisherMetrics,
        redactor: Redactor,
        timeout: float,
    ) -> None:
        self._providers = list(providers)
        self._redactor = redactor
        self._timeout = timeout
        self._counts = {
            (p.name, outcome): metrics.analytics.labels(p.name, outcome)
            for p in self._providers
            for outcome in ("sent", "failed")
        }

    async def __call__(self, incoming: Incoming[AnalyticsTrackedV1]) -> None:
        """Send to all side by side; a failure is counted, not raised."""
        await asyncio.gather(*(self._one(p, incoming) for p in self._providers))

    async def _one(self, provider: AnalyticsProvider, incoming: Incoming[Any]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await provider.track(incoming.event)
        except Exception as error:  # fire-and-forget: whatever went wrong is counted, not raised
            self._counts[provider.name, "failed"].inc()
            incoming.gave_up(error)
            log.warning(
                "analytics event not taken; it is not sent again",
                extra={
                    "provider": provider.name,
                    "error": self._redactor.clean(f"{type(error).__name__}: {error}"),
                },
            )
        else:
            self._counts[provider.name, "sent"].inc()
