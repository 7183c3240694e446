"""Which model validates which event: (type, version) -> contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from contracts.analytics import AnalyticsTrackedV1
from contracts.attempts import AttemptsRecordedV1
from contracts.base import Contract
from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.emails import EmailFailedV1, EmailRequestedV1, EmailSentV1
from contracts.envelope import CloudEvent
from contracts.integrations import IntegrationHealthChangedV1
from contracts.orders import (
    OrderCancelledV1,
    OrderConfirmationRequestedV1,
    OrderCreatedV1,
    OrderCrmSyncedV1,
    OrderRefundedV1,
    OrderWarehouseNotifiedV1,
)
from contracts.users import UserAuthenticatedV1
from contracts.webhooks import WebhookReceivedV1

CONTRACTS: tuple[type[Contract], ...] = (
    OrderCreatedV1,
    OrderCrmSyncedV1,
    OrderConfirmationRequestedV1,
    OrderWarehouseNotifiedV1,
    OrderCancelledV1,
    OrderRefundedV1,
    EmailRequestedV1,
    EmailSentV1,
    EmailFailedV1,
    DeliverySucceededV1,
    DeliveryFailedV1,
    IntegrationHealthChangedV1,
    WebhookReceivedV1,
    UserAuthenticatedV1,
    AnalyticsTrackedV1,
    AttemptsRecordedV1,
)

_BY_KEY: dict[tuple[str, int], type[Contract]] = {(c.TYPE, c.VERSION): c for c in CONTRACTS}
_KEY = re.compile(r"^(?P<type>[a-z0-9_-]+(?:\.[a-z0-9_-]+)+)\.v(?P<version>[1-9][0-9]{0,3})$")
_DATASCHEMA_VERSION = re.compile(r"\.v([1-9][0-9]{0,3})\.json$")


class UnknownContractError(LookupError):
    """No contract is registered for this type and version."""


def parse_key(key: str) -> tuple[str, int]:
    """Split `order.created.v1` into `("order.created", 1)`; ValueError if malformed."""
    match = _KEY.match(key)
    if match is None:
        raise ValueError(f"{key!r} is not TYPE.vN (for example order.created.v1)")
    return match["type"], int(match["version"])


def routing_key(event_type: str, version: int) -> str:
    """The routing key events of this type and version are published with."""
    return f"{event_type}.v{version}"


def lookup(event_type: str, version: int) -> type[Contract]:
    """The contract for this type and version, including members of a family."""
    contract = _BY_KEY.get((event_type, version))
    if contract is None and "." in event_type:
        family = _BY_KEY.get((event_type.rsplit(".", 1)[0], version))
        if family is not None and family.FAMILY:
            contract = family
    if contract is None:
        raise UnknownContractError(f"no contract for {routing_key(event_type, version)}")
    return contract


def lookup_key(key: str) -> type[Contract]:
    """The contract for `TYPE.vN`; ValueError if malformed, UnknownContractError if unknown."""
    return lookup(*parse_key(key))


def version_of(dataschema: str) -> int | None:
    """The version a `dataschema` URI names, if it names one."""
    match = _DATASCHEMA_VERSION.search(dataschema)
    return int(match.group(1)) if match else None


@cache
def envelope_model(contract: type[Contract]) -> type[CloudEvent[Any]]:
    """The envelope model whose `data` is this contract (built once per contract)."""
    return CloudEvent[contract]  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A contract looked up once, with everything later steps need instead of deriving it again."""

    contract: type[Contract]
    envelope: type[CloudEvent[Any]]  # the CloudEvent model whose `data` is this contract
    key: str  # `order.created.v1`
    dataschema: str

    @property
    def version(self) -> int:
        """The contract's version."""
        return self.contract.VERSION

    def routing_key(self, event_type: str) -> str:
        """The routing key of an event of this contract (a family member's names its type)."""
        return (
            self.key if event_type == self.contract.TYPE else routing_key(event_type, self.version)
        )


@cache
def resolve(contract: type[Contract]) -> Resolved:
    """The contract, resolved (once per process)."""
    return Resolved(contract, envelope_model(contract), contract.key(), contract.dataschema())


@lru_cache(maxsize=1024)
def resolve_key(key: str) -> Resolved:
    """`TYPE.vN` resolved; ValueError if malformed, UnknownContractError if unknown."""
    return resolve(lookup_key(key))
