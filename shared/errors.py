"""The failure vocabulary: what happens to a message when its handler fails.

Every error that parks a message says why in its class: `reason_class`, one of `Reason`. What
other libraries raise is turned into these errors in one place each: contract validation in
`shared.decoding.contract_errors`, HTTP in the gateway (`shared.gateway.retry`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """Why a message left its queue for the ladder or the parked queue: a bounded label."""

    TRANSIENT = "transient"  # on its way up the ladder
    EXHAUSTED = "exhausted"  # the ladder's last rung failed too
    PERMANENT = "permanent"
    CONTRACT = "contract"
    UNROUTABLE = "unroutable"
    GONE = "gone"
    REFUSED = "refused"
    DISABLED = "disabled"
    DELIVERY_LIMIT = "delivery_limit"  # the broker parked it: it killed its worker again and again


class EventyardError(Exception):
    """Root of every error eventyard raises on purpose."""


class TransientError(EventyardError):
    """Worth retrying later: the message goes to the next step of the retry ladder."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeferredError(EventyardError):
    """Not yet: wait on the retry ladder until `until`; not a failure, so no attempt is used."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"deferred until {until.isoformat()}")
        self.until = until


class PermanentError(EventyardError):
    """Retrying cannot help: the message is parked at once."""

    reason_class: ClassVar[Reason] = Reason.PERMANENT


class ContractError(PermanentError):
    """The message is not a valid event of a known contract: parked at once, never retried."""

    reason_class = Reason.CONTRACT


class PublishError(EventyardError):
    """The broker did not confirm a publish (refused, unreachable, or timed out)."""


class UnroutableError(PublishError):
    """The broker confirmed nothing because no queue is bound for the routing key."""


class ConfigError(EventyardError):
    """The integrations file or the settings are invalid."""


class NotAcceptedError(ContractError):
    """The contract may not come through this door (its PRODUCERS say who may produce it)."""
