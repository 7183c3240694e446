"""Segment's HTTP Tracking API (`POST /v1/track`), through the gateway.

The integration table carries the base URL (`https://api.segment.io`) and the write key as a
Basic credential (`auth = "basic"`, the variable holding `<write key>:`); this adapter knows
the body.
"""

from __future__ import annotations

from typing import Any

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import CloudEvent
from shared.gateway import Gateway

TRACK_PATH = "/v1/track"
# Public, no key: what the health service probes.
STATUS_URL = "https://status.segment.com/api/v2/status.json"


class SegmentProvider:
    """Sends `track` calls; Segment dedupes by `messageId` (the event id)."""

    def __init__(self, name: str, gateway: Gateway) -> None:
        self.name = name
        self._gateway = gateway

    async def track(self, event: CloudEvent[AnalyticsTrackedV1]) -> None:
        """POST one track call."""
        await self._gateway.request(self.name, "POST", TRACK_PATH, json=body(event))


def body(event: CloudEvent[AnalyticsTrackedV1]) -> dict[str, Any]:
    """The track call: who, what, when, and the event id as Segment's dedupe key."""
    data = event.data
    who = {"userId": data.user_id} if data.user_id else {"anonymousId": data.anonymous_id}
    return {
        **who,
        "event": data.event,
        "properties": data.properties,
        "timestamp": data.occurred_at.isoformat(),
        "messageId": event.id,
        "context": {"library": {"name": "eventyard"}},
    }
