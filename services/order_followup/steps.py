"""Which follow-up steps run: the seed's three, and one per integration that names a `step`.

Adding a step that calls an integration takes one module (a factory that returns the handler)
and one `[integrations.<name>]` table naming it (docs/adding-an-integration.md); the queue,
its parked queue, the catalogue entry and the step's metrics follow from them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from contracts.base import Contract
from contracts.orders import OrderCreatedV1
from contracts.registry import UnknownContractError, lookup_key
from services.order_followup.handlers import notify_warehouse, sync_to_crm
from services.order_followup.refunds import refund_step
from shared.config import IntegrationConfig, IntegrationsFile
from shared.consumer import Handler
from shared.errors import ConfigError
from shared.gateway import Gateway
from shared.topology import WorkQueue

SERVICE = "order-followup"
StepFactory = Callable[[Gateway, str], Handler]
# The seed's steps that call an integration, when its table names no `step` of its own.
SEED_STEPS: dict[str, StepFactory] = {"crm": sync_to_crm, "warehouse": notify_warehouse}


@dataclass(frozen=True)
class IntegrationStep:
    """A step that calls one integration: its queue, the contracts it takes, its handler."""

    integration: str
    queue: WorkQueue
    accepts: tuple[type[Contract], ...]
    factory: StepFactory | None  # None: the module is loaded when the service starts


def step_queue(integration: str, config: IntegrationConfig | None) -> WorkQueue:
    """`order-followup.<integration>`, bound to the events the step takes."""
    keys = tuple(config.events) if config is not None else (OrderCreatedV1.key(),)
    return WorkQueue(f"{SERVICE}.{integration}", keys, service=SERVICE)


def integration_steps(integrations: IntegrationsFile) -> list[IntegrationStep]:
    """The seed's CRM and warehouse steps (declared whether configured or not), then every
    integration whose table names a `step` or a `payments` adapter (its refund step)."""
    tables = integrations.integrations
    names = [*SEED_STEPS, *(n for n, c in tables.items() if c.step or c.payments)]
    steps = []
    for name in dict.fromkeys(names):
        config = tables.get(name)
        accepts = _contracts(name, config.events) if config else (OrderCreatedV1,)
        steps.append(
            IntegrationStep(name, step_queue(name, config), accepts, _factory(name, config))
        )
    return steps


def _factory(name: str, config: IntegrationConfig | None) -> StepFactory | None:
    if config is not None and config.payments is not None:
        return refund_step(config.payments)
    return SEED_STEPS.get(name) if config is None or config.step is None else None


def handler_for(step: IntegrationStep, config: IntegrationConfig, gateway: Gateway) -> Handler:
    """The step's handler, from the seed's or from the module its table names."""
    factory = step.factory or load_factory(step.integration, config.step or "")
    return factory(gateway, step.integration)


def load_factory(integration: str, spec: str) -> StepFactory:
    """Import `module:factory`; ConfigError naming the table when it cannot be."""
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(
            f"integrations.{integration}.step = {spec!r} cannot be loaded: {error}"
        ) from error
    if not callable(factory):
        raise ConfigError(f"integrations.{integration}.step = {spec!r} is not callable")
    loaded: StepFactory = factory
    return loaded


def _contracts(integration: str, keys: list[str]) -> tuple[type[Contract], ...]:
    try:
        return tuple(lookup_key(key) for key in keys)
    except (ValueError, UnknownContractError) as error:
        raise ConfigError(f"integrations.{integration}.events: {error}") from error
