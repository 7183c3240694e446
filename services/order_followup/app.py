"""order-followup: the old synchronous chain as independent queued steps."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from contracts.emails import EmailRequestedV1
from contracts.orders import (
    OrderConfirmationRequestedV1,
    OrderCreatedV1,
    OrderCrmSyncedV1,
    OrderWarehouseNotifiedV1,
)
from services.order_followup.handlers import notify_warehouse, request_confirmation, sync_to_crm
from shared.config import IntegrationsFile
from shared.consumer import Step
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

log = logging.getLogger(__name__)

NAME = "order-followup"
_ORDER_CREATED = (OrderCreatedV1.key(),)
CRM_QUEUE = WorkQueue(f"{NAME}.crm", _ORDER_CREATED, service=NAME)
CONFIRMATION_QUEUE = WorkQueue(f"{NAME}.confirmation", _ORDER_CREATED, service=NAME)
WAREHOUSE_QUEUE = WorkQueue(f"{NAME}.warehouse", _ORDER_CREATED, service=NAME)


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """CRM sync, confirmation email and warehouse notice: three queues, one event."""
    return [CRM_QUEUE, CONFIRMATION_QUEUE, WAREHOUSE_QUEUE]


async def wire(runtime: Runtime) -> Wiring:
    """Each step on its own queue; a step whose integration is not configured waits unconsumed."""
    accepts = (OrderCreatedV1,)
    steps = [Step(CONFIRMATION_QUEUE, request_confirmation(), accepts=accepts)]
    for queue, integration, make in (
        (CRM_QUEUE, "crm", sync_to_crm),
        (WAREHOUSE_QUEUE, "warehouse", notify_warehouse),
    ):
        if integration in runtime.integrations.integrations:
            steps.append(Step(queue, make(runtime.gateway, integration), accepts=accepts))
        else:
            log.warning(
                "no [integrations.%s] in the integrations file: %s keeps its messages unconsumed",
                integration,
                queue.name,
            )
    return Wiring(steps=steps)


DEFINITION = ServiceDefinition(
    NAME,
    8003,
    queues,
    wire,
    summary="CRM sync, confirmation email and warehouse notice as independent steps.",
    emits=(
        OrderCrmSyncedV1,
        EmailRequestedV1,
        OrderConfirmationRequestedV1,
        OrderWarehouseNotifiedV1,
    ),
)
