"""Where the health service probes a provider whose table declares no `health_url`: the probe
its adapter declares (mail, payments, analytics)."""

from __future__ import annotations

from pydantic import HttpUrl

from services.email.apis import HEALTH_PATHS as MAIL_HEALTH_PATHS
from services.order_followup.payments import HEALTH_PATHS as PAYMENT_HEALTH_PATHS
from services.publisher.analytics import STATUS_URLS
from shared.config import IntegrationConfig, IntegrationsFile


def with_provider_probes(file: IntegrationsFile) -> dict[str, IntegrationConfig]:
    """The integrations, each provider's with its adapter's probe when its table declares none."""
    integrations = dict(file.integrations)
    mail_api = file.email.http_integration if file.email.provider in MAIL_HEALTH_PATHS else None
    for name, config in integrations.items():
        if config.health_url is not None:
            continue
        if name == mail_api:
            integrations[name] = _authenticated(config, MAIL_HEALTH_PATHS[file.email.provider])
        elif config.payments in PAYMENT_HEALTH_PATHS:
            integrations[name] = _authenticated(config, PAYMENT_HEALTH_PATHS[config.payments])
        elif config.analytics in STATUS_URLS:
            # An ingestion key is write-only: the provider's public status page stands in, asked
            # without the key (a probe must not carry a credential to another host).
            url = HttpUrl(STATUS_URLS[config.analytics])
            integrations[name] = config.model_copy(
                update={"health_url": url, "auth": "none", "credentials": []}
            )
    return integrations


def _authenticated(config: IntegrationConfig, path: str) -> IntegrationConfig:
    # An authenticated, side-effect-free read: it checks the key as well as the service.
    url = HttpUrl(str(config.base_url).rstrip("/") + path)
    return config.model_copy(update={"health_url": url})
