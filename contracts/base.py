"""The base every contract model derives from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

SCHEMA_BASE = "https://eventyard.dev/schemas/"

# Who may produce a contract. The doors of the intake service, and the yard's own services by
# name; ANY is every producer, the drop door included.
ANY = "any"
INTAKE_HTTP = "intake-http"  # verified at intake's HTTP door: a signed webhook, an OAuth sign-in
DROP = "drop"  # dropped into the `intake` queue by any AMQP client of the company
SERVICE_PRODUCERS = frozenset({"intake", "publisher", "email", "order-followup", "health"})
PRODUCER_NAMES = frozenset({ANY, INTAKE_HTTP, DROP}) | SERVICE_PRODUCERS


@dataclass(frozen=True)
class Producers:
    """Who may produce a contract, and why (shown by `eventyard contracts list`)."""

    names: frozenset[str]
    why: str

    def __post_init__(self) -> None:
        """Refuse a name nobody produces under, so a typo cannot open or shut a door."""
        unknown = self.names - PRODUCER_NAMES
        if not self.names or unknown:
            raise ValueError(
                f"unknown producers {sorted(unknown)}; known: {sorted(PRODUCER_NAMES)}"
            )

    def allow(self, producer: str) -> bool:
        """Whether `producer` (a door or a service name) may produce this contract."""
        return ANY in self.names or producer in self.names

    def __str__(self) -> str:
        return ", ".join(sorted(self.names))


class Contract(BaseModel):
    """A versioned event payload: frozen, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    # A family contract (e.g. webhook.received) is published under `<event_type>.<suffix>`
    # so that consumers can bind to one member of the family by routing key.
    FAMILY: ClassVar[bool] = False
    # Declared by every contract: downstream services trust an event as far as its producer.
    PRODUCERS: ClassVar[Producers]

    @classmethod
    def key(cls) -> str:
        """The contract's name with its version, e.g. `order.created.v1`."""
        return f"{cls.TYPE}.v{cls.VERSION}"

    @classmethod
    def dataschema(cls) -> str:
        """The URI that names this contract's JSON Schema (its `$id`)."""
        return f"{SCHEMA_BASE}{cls.key()}.json"
