"""The yard: every service, the ports they listen on, and the topology they make together."""

from __future__ import annotations

from services import NAMES
from services.email.app import DEFINITION as EMAIL
from services.health.app import DEFINITION as HEALTH
from services.intake.app import DEFINITION as INTAKE
from services.order_followup.app import DEFINITION as ORDER_FOLLOWUP
from services.publisher.app import DEFINITION as PUBLISHER
from shared.config import IntegrationsFile
from shared.errors import ConfigError
from shared.service import ServiceDefinition
from shared.settings import Settings
from shared.topology import Topology, WorkQueue, merge

SERVICES: dict[str, ServiceDefinition] = {
    d.name: d for d in (INTAKE, PUBLISHER, EMAIL, ORDER_FOLLOWUP, HEALTH)
}
if tuple(SERVICES) != NAMES:  # the command line names them from services.NAMES
    raise RuntimeError(f"services.NAMES {NAMES} differs from the definitions {tuple(SERVICES)}")


def ports(base_port: int | None = None) -> dict[str, int]:
    """Each service's HTTP port: its own default, or `base_port` + its place in SERVICES."""
    return {
        name: definition.default_port if base_port is None else base_port + offset
        for offset, (name, definition) in enumerate(SERVICES.items())
    }


def service_urls(host: str = "127.0.0.1", base_port: int | None = None) -> dict[str, str]:
    """Each service's base URL on `host`, as `ports` places them."""
    return {name: f"http://{host}:{port}" for name, port in ports(base_port).items()}


def kit_queues(integrations: IntegrationsFile) -> list[WorkQueue]:
    """The queues of the services that consume with the FastStream kit (`[consumers.<name>]`)."""
    return [
        WorkQueue(queue, tuple(keys), service=name)
        for name, consumer in integrations.consumers.items()
        for queue, keys in consumer.queues.items()
    ]


def build_topology(settings: Settings, integrations: IntegrationsFile) -> Topology:
    """All work queues of all services and of the kit's consumers, plus the retry ladder."""
    own = merge(d.queues(integrations) for d in SERVICES.values())
    kit = kit_queues(integrations)
    taken = sorted({q.name for q in own} & {q.name for q in kit})
    if taken:
        raise ConfigError(f"consumers: {', '.join(taken)} is a queue of the yard's own")
    return Topology(
        queues=merge([own, kit]),
        delays=tuple(settings.retry.delays),
        delivery_limit=settings.retry.delivery_limit,
    )
