"""Analytics adapters: each knows one provider's ingestion shape; the rest of the yard only
`AnalyticsProvider.track`.

No provider's name, path or field appears outside its own module here.
"""

from __future__ import annotations

from collections.abc import Callable

from services.publisher.analytics.base import AnalyticsProvider
from services.publisher.analytics.posthog import STATUS_URL as POSTHOG_STATUS_URL
from services.publisher.analytics.posthog import PostHogProvider
from services.publisher.analytics.segment import STATUS_URL as SEGMENT_STATUS_URL
from services.publisher.analytics.segment import SegmentProvider
from shared.config import IntegrationConfig
from shared.errors import ConfigError
from shared.gateway import Gateway

# adapter name -> provider(integration name, its table, the gateway)
ADAPTERS: dict[str, Callable[[str, IntegrationConfig, Gateway], AnalyticsProvider]] = {
    "segment": lambda name, _, gateway: SegmentProvider(name, gateway),
    "posthog": lambda name, config, gateway: PostHogProvider(
        name, gateway, config.credentials[0] if config.credentials else None
    ),
}


# adapter name -> the provider's public status page (Statuspage's JSON summary), which the
# health service probes: an ingestion key is write-only and has nothing cheap to read
STATUS_URLS: dict[str, str] = {"segment": SEGMENT_STATUS_URL, "posthog": POSTHOG_STATUS_URL}


def analytics_providers(
    integrations: dict[str, IntegrationConfig], gateway: Gateway
) -> list[AnalyticsProvider]:
    """A provider per integration whose table names an `analytics` adapter."""
    providers = []
    for name, config in integrations.items():
        if config.analytics is None:
            continue
        adapter = ADAPTERS.get(config.analytics)
        if adapter is None:
            raise ConfigError(
                f"integrations.{name}.analytics = {config.analytics!r} is none of "
                f"{', '.join(ADAPTERS)}"
            )
        providers.append(adapter(name, config, gateway))
    return providers
