"""The base every contract model derives from."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

SCHEMA_BASE = "https://eventyard.dev/schemas/"


class Contract(BaseModel):
    """A versioned event payload: frozen, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    # A family contract (e.g. webhook.received) is published under `<event_type>.<suffix>`
    # so that consumers can bind to one member of the family by routing key.
    FAMILY: ClassVar[bool] = False

    @classmethod
    def key(cls) -> str:
        """The contract's name with its version, e.g. `order.created.v1`."""
        return f"{cls.TYPE}.v{cls.VERSION}"

    @classmethod
    def dataschema(cls) -> str:
        """The URI that names this contract's JSON Schema (its `$id`)."""
        return f"{SCHEMA_BASE}{cls.key()}.json"
