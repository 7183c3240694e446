"""PostHog's capture endpoint (`POST /capture/`), through the gateway.

The integration table carries the base URL (`https://eu.i.posthog.com` or your instance) and
the project API key's variable in `credentials` (PostHog reads the key from the body, so the
table keeps `auth = "none"`); this adapter knows the body.
"""

from __future__ import annotations

from typing import Any

from contracts.analytics import AnalyticsTrackedV1
from contracts.envelope import CloudEvent
from shared.config import read_secret
from shared.errors import ConfigError
from shared.gateway import Gateway

CAPTURE_PATH = "/capture/"
# Public, no key: what the health service probes.
STATUS_URL = "https://status.posthog.com/api/v2/status.json"


class PostHogProvider:
    """Sends `capture` calls; PostHog dedupes by `uuid` (the event id)."""

    def __init__(self, name: str, gateway: Gateway, key_variable: str | None) -> None:
        if not key_variable:
            raise ConfigError(
                f"integrations.{name}: the posthog adapter needs the project API key's "
                "variable in credentials"
            )
        self.name = name
        self._gateway = gateway
        self._key_variable = key_variable

    async def track(self, event: CloudEvent[AnalyticsTrackedV1]) -> None:
        """POST one capture call (the key is read now, so a rotated one applies at once)."""
        payload = body(event, read_secret(self._key_variable))
        await self._gateway.request(self.name, "POST", CAPTURE_PATH, json=payload)


def body(event: CloudEvent[AnalyticsTrackedV1], api_key: str) -> dict[str, Any]:
    """The capture call: the key, who, what, when, and the event id as PostHog's uuid."""
    data = event.data
    return {
        "api_key": api_key,
        "event": data.event,
        "distinct_id": data.actor,
        "properties": {**data.properties, "$lib": "eventyard"},
        "timestamp": data.occurred_at.isoformat(),
        "uuid": event.id,
    }
