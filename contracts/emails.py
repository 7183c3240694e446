"""Email contracts."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from contracts.base import ANY, Contract, Producers
from contracts.fields import EmailAddress


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
                    "send_after": "2026-11-20T07:00:00Z",
                },
            ]
        }
    )

    to: EmailAddress
    template: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$", max_length=100)
    variables: dict[str, Any] = Field(default_factory=dict)
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=100_000)
    send_after: AwareDatetime | None = None
    priority: Literal["high", "normal", "low"] = "normal"

    @model_validator(mode="after")
    def _template_or_literal(self) -> EmailRequestedV1:
        if self.template is None and (self.subject is None or self.body is None):
            raise ValueError("give either a template, or both subject and body")
        return self


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
