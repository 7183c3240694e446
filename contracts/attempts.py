"""The attempts log's input: what each service did with each message, a batch at a time."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import SERVICE_PRODUCERS, Contract, Producers

# Field bounds, the same as the log's columns (shared/attempts/schema.py); a reporter cuts its
# texts to these before it publishes, so one long answer never costs a batch.
ID_CHARS, NAME_CHARS, EXCERPT_CHARS, REQUEST_CHARS = 100, 200, 500, 300
MAX_RECORDS = 500

AttemptKind = Literal["webhook", "drop", "delivery", "email", "command"]


class AttemptRecord(BaseModel):
    """One attempt at one message: who, where, when, how long, and how it ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=ID_CHARS)
    event_type: str = Field(max_length=NAME_CHARS)
    kind: AttemptKind
    target: str = Field(min_length=1, max_length=NAME_CHARS)
    attempt: int = Field(ge=1, le=1_000_000)
    at: AwareDatetime
    # succeeded, failed (retried on the ladder), parked; a webhook's: accepted, duplicate,
    # parked, refused, unavailable
    outcome: str = Field(min_length=1, max_length=20)
    duration_ms: float | None = Field(default=None, ge=0)
    status_code: int | None = Field(default=None, ge=100, le=599)
    error_class: str | None = Field(default=None, max_length=NAME_CHARS)
    rung: str | None = Field(default=None, max_length=NAME_CHARS)  # where a retry waits
    excerpt: str | None = Field(default=None, max_length=EXCERPT_CHARS)  # what came back
    # What the attempt handled (its message's `data`, or the body if it did not decode); told
    # with a message's first attempt and when it is parked, not again on each retry.
    request: str | None = Field(default=None, max_length=REQUEST_CHARS)


class AttemptsRecordedV1(Contract):
    """A service's attempts since its last batch (at most every half second or 500 attempts)."""

    TYPE: ClassVar[str] = "attempts.recorded"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        SERVICE_PRODUCERS,
        "says what a yard service did with a message: each service reports its own",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service": "publisher",
                    "records": [
                        {
                            "event_id": "0b6a3a52-5f5e-4c1e-8f3b-1f1f4a9d2c11",
                            "event_type": "order.created",
                            "kind": "delivery",
                            "target": "partner",
                            "attempt": 2,
                            "at": "2026-11-20T09:16:04Z",
                            "outcome": "failed",
                            "duration_ms": 15002.7,
                            "status_code": 503,
                            "error_class": "HttpTransientError",
                            "rung": "retry.30s",
                            "excerpt": "upstream unavailable",
                            "request": '"data":{"order_id":"ord_1","customer":{…',
                        }
                    ],
                }
            ]
        }
    )

    service: str = Field(min_length=1, max_length=NAME_CHARS)
    records: list[AttemptRecord] = Field(min_length=1, max_length=MAX_RECORDS)
