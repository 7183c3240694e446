"""Every service, and the topology they make together."""

from __future__ import annotations

from services.email.app import DEFINITION as EMAIL
from services.health.app import DEFINITION as HEALTH
from services.intake.app import DEFINITION as INTAKE
from services.order_followup.app import DEFINITION as ORDER_FOLLOWUP
from services.publisher.app import DEFINITION as PUBLISHER
from shared.config import IntegrationsFile
from shared.service import ServiceDefinition
from shared.settings import Settings
from shared.topology import Topology, merge

SERVICES: dict[str, ServiceDefinition] = {
    d.name: d for d in (INTAKE, PUBLISHER, EMAIL, ORDER_FOLLOWUP, HEALTH)
}


def build_topology(settings: Settings, integrations: IntegrationsFile) -> Topology:
    """All work queues of all services, plus the retry ladder from the settings."""
    return Topology(
        queues=merge(d.queues(integrations) for d in SERVICES.values()),
        delays=tuple(settings.retry.delays),
        delivery_limit=settings.retry.delivery_limit,
    )
