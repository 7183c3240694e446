"""The yard: every service, the ports they listen on, and the topology they make together."""

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


def ports(base_port: int | None = None) -> dict[str, int]:
    """Each service's HTTP port: its own default, or `base_port` + its place in SERVICES."""
    return {
        name: definition.default_port if base_port is None else base_port + offset
        for offset, (name, definition) in enumerate(SERVICES.items())
    }


def service_urls(host: str = "127.0.0.1", base_port: int | None = None) -> dict[str, str]:
    """Each service's base URL on `host`, as `ports` places them."""
    return {name: f"http://{host}:{port}" for name, port in ports(base_port).items()}


def build_topology(settings: Settings, integrations: IntegrationsFile) -> Topology:
    """All work queues of all services, plus the retry ladder from the settings."""
    return Topology(
        queues=merge(d.queues(integrations) for d in SERVICES.values()),
        delays=tuple(settings.retry.delays),
        delivery_limit=settings.retry.delivery_limit,
    )
