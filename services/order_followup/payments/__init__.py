"""Payment adapters: each knows one provider's request shape, amounts, statuses and errors; the
rest of the yard only `PaymentProvider`.

No provider's name, path or field appears outside its own module here.
"""

from __future__ import annotations

from services.order_followup.payments.base import PaymentProvider
from services.order_followup.payments.mollie import MollieProvider
from services.order_followup.payments.stripe import StripeProvider
from shared.errors import ConfigError
from shared.gateway import Gateway

_ADAPTERS = (StripeProvider, MollieProvider)
# adapter name -> an authenticated, side-effect-free path the health service probes
HEALTH_PATHS: dict[str, str] = {a.name: a.health_path for a in _ADAPTERS}
ADAPTER_NAMES = tuple(a.name for a in _ADAPTERS)


def payment_provider(adapter: str, integration: str, gateway: Gateway) -> PaymentProvider:
    """The adapter the integration's table names; ConfigError naming the table if unknown."""
    for candidate in _ADAPTERS:
        if candidate.name == adapter:
            return candidate(integration, gateway)
    raise ConfigError(
        f"integrations.{integration}.payments = {adapter!r} is none of {', '.join(ADAPTER_NAMES)}"
    )
