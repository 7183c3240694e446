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
from services.order_followup.handlers import PROFILE_QUERY, request_confirmation
from services.order_followup.steps import handler_for, integration_steps, step_queue
from shared.config import IntegrationsFile
from shared.consumer import Step
from shared.gateway.query import queries_for
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

log = logging.getLogger(__name__)

NAME = "order-followup"
CONFIRMATION_QUEUE = WorkQueue(f"{NAME}.confirmation", (OrderCreatedV1.key(),), service=NAME)
CRM_QUEUE = step_queue("crm", None)
WAREHOUSE_QUEUE = step_queue("warehouse", None)


def queues(integrations: IntegrationsFile) -> Sequence[WorkQueue]:
    """The confirmation email's queue and one per integration step (CRM, warehouse, …)."""
    return [CONFIRMATION_QUEUE, *(step.queue for step in integration_steps(integrations))]


async def wire(runtime: Runtime) -> Wiring:
    """Each step on its own queue; a step whose integration is not configured waits unconsumed."""
    queries = queries_for(runtime.integrations, runtime.gateway, runtime.metrics.registry)
    confirm = request_confirmation(queries.get(*PROFILE_QUERY))
    steps = [Step(CONFIRMATION_QUEUE, confirm, accepts=(OrderCreatedV1,))]
    for step in integration_steps(runtime.integrations):
        config = runtime.integrations.integrations.get(step.integration)
        if config is None:
            log.warning(
                "no [integrations.%s] in the integrations file: %s keeps its messages unconsumed",
                step.integration,
                step.queue.name,
            )
            continue
        handler = handler_for(step, config, runtime.gateway)
        steps.append(Step(step.queue, handler, accepts=step.accepts))
    return Wiring(steps=steps, on_stop=[queries.aclose])


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
