"""order-followup: the old synchronous chain as independent queued steps."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.orders import OrderCreatedV1
from shared.config import IntegrationsFile
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "order-followup"
_ORDER_CREATED = (OrderCreatedV1.key(),)
CRM_QUEUE = WorkQueue(f"{NAME}.crm", _ORDER_CREATED, service=NAME)
CONFIRMATION_QUEUE = WorkQueue(f"{NAME}.confirmation", _ORDER_CREATED, service=NAME)
WAREHOUSE_QUEUE = WorkQueue(f"{NAME}.warehouse", _ORDER_CREATED, service=NAME)


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """CRM sync, confirmation email and warehouse notice: three queues, one event."""
    return [CRM_QUEUE, CONFIRMATION_QUEUE, WAREHOUSE_QUEUE]


async def wire(runtime: Runtime) -> Wiring:
    """Nothing consumes yet: the steps arrive with the order-followup issue."""
    return Wiring()


DEFINITION = ServiceDefinition(NAME, 8003, queues, wire)
