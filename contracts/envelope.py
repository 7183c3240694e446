"""The CloudEvents 1.0 structured-mode envelope every message travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DataT = TypeVar("DataT")

CONTENT_TYPE = "application/cloudevents+json"

# The longest attribute values any door lets in; over-long ones are refused there, not later.
MAX_ID = 200
MAX_SOURCE = 500
MAX_TYPE = 200
MAX_SUBJECT = 500
MAX_DATASCHEMA = 300
# No control characters: these values end up in headers (AMQP, HTTP, mail) and log lines.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def new_event_id() -> str:
    """A fresh, unique event id."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event with the `correlationid` and `causationid` extensions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=MAX_ID, pattern=PRINTABLE)
    source: str = Field(min_length=1, max_length=MAX_SOURCE, pattern=PRINTABLE)
    type: str = Field(min_length=1, max_length=MAX_TYPE, pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str = Field(min_length=1, max_length=MAX_DATASCHEMA, pattern=PRINTABLE)
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT, pattern=PRINTABLE)
    data: DataT
    correlationid: str | None = Field(default=None, max_length=MAX_ID, pattern=PRINTABLE)
    causationid: str | None = Field(default=None, max_length=MAX_ID, pattern=PRINTABLE)

    def to_json(self) -> bytes:
        """The structured-mode JSON body, without absent optional attributes."""
        absent = {name for name in _OPTIONAL_ATTRIBUTES if getattr(self, name) is None}
        return self.model_dump_json(exclude=absent).encode()


AnyCloudEvent = CloudEvent[Any]

_OPTIONAL_ATTRIBUTES = ("subject", "correlationid", "causationid")
