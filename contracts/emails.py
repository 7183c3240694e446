"""Email contracts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from contracts.base import ANY, Contract, Producers
from contracts.envelope import utc_now
from contracts.fields import EmailAddress

MAX_SCHEDULE_AHEAD = timedelta(days=30)


class EmailRequestedV1(Contract):
    """Somebody asked for an email: a template with variables, or a literal subject and body."""

    TYPE: ClassVar[str] = "email.requested"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({ANY}),
        "a producer's contract, as in the seed's email queue: any service may ask for an "
        "email, by publishing it or dropping it into the intake queue",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "to": "ada@example.com",
                    "template": "order_confirmation",
                    "variables": {"name": "Ada Lovelace", "order_id": "ord_7Hq2LmX9"},
                    "priority": "high",
                },
                {
                    "to": "ops@example.com",
                    "subject": "Nightly export finished",
                    "body": "The export of 2026-11-19 finished with 10,482 rows.",
                    "send_at": "2026-11-20T07:00:00Z",
                },
            ]
        }
    )

    to: EmailAddress
    template: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$", max_length=100)
    variables: dict[str, Any] = Field(default_factory=dict)
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=100_000)
    send_at: AwareDatetime | None = Field(
        default=None,
        description="RFC 3339 with an offset: sent at or after this moment, within the retry "
        "ladder's shortest step; in the past: at once; at most 30 days ahead",
    )
    send_after: AwareDatetime | None = Field(default=None, deprecated="use send_at")
    priority: Literal["high", "normal", "low"] = "normal"

    @model_validator(mode="after")
    def _template_or_literal(self) -> EmailRequestedV1:
        if self.template is None and (self.subject is None or self.body is None):
            raise ValueError("give either a template, or both subject and body")
        return self

    @model_validator(mode="after")
    def _schedule_within_reach(self) -> EmailRequestedV1:
        earlier = self.__dict__["send_after"]  # read without the deprecation warning
        if self.send_at is not None and earlier is not None and earlier != self.send_at:
            raise ValueError("send_at and send_after (its old name) disagree; give send_at only")
        when = self.scheduled_for
        if when is not None and when - utc_now() > MAX_SCHEDULE_AHEAD:
            # It would wait on the broker's ladder for weeks: a scheduler's job, not a queue's.
            raise ValueError(f"send_at is more than {MAX_SCHEDULE_AHEAD.days} days ahead")
        return self

    @property
    def scheduled_for(self) -> datetime | None:
        """When the email is due (`send_at`, or `send_after` from older producers)."""
        return self.send_at if self.send_at is not None else self.__dict__["send_after"]


class EmailSentV1(Contract):
    """An email was accepted by the mail provider."""

    TYPE: ClassVar[str] = "email.sent"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"email"}),
        "says the mail provider accepted an email: only the email service knows",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10",
                    "to": "ada@example.com",
                    "provider": "smtp",
                    "provider_message_id": "<173215.42@mail.example.com>",
                    "sent_at": "2026-11-20T09:14:05Z",
                }
            ]
        }
    )

    request_id: str = Field(min_length=1)
    to: EmailAddress
    provider: str
    provider_message_id: str | None = None
    sent_at: AwareDatetime


class EmailFailedV1(Contract):
    """An email could not be sent and will not be retried."""

    TYPE: ClassVar[str] = "email.failed"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({"email"}),
        "says an email will not be sent: only the email service knows",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10",
                    "to": "nobody@example.com",
                    "provider": "smtp",
                    "reason": "550 5.1.1 mailbox unavailable",
                    "attempts": 1,
                    "failed_at": "2026-11-20T09:14:05Z",
                }
            ]
        }
    )

    request_id: str = Field(min_length=1)
    to: EmailAddress
    provider: str
    reason: str = Field(max_length=1000)
    attempts: int = Field(ge=1)
    failed_at: AwareDatetime
