"""User contracts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict, Field

from contracts.base import INTAKE_HTTP, Contract, Producers
from contracts.fields import EmailAddress


class UserAuthenticatedV1(Contract):
    """A user signed in through an OAuth provider. Carries no token."""

    TYPE: ClassVar[str] = "user.authenticated"
    VERSION: ClassVar[int] = 1
    PRODUCERS: ClassVar[Producers] = Producers(
        frozenset({INTAKE_HTTP}),
        "a sign-in: only intake's OAuth callback exchanges a code with the provider",
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "provider": "github",
                    "provider_user_id": "583231",
                    "email": "ada@example.com",
                    "name": "Ada Lovelace",
                    "authenticated_at": "2026-11-20T09:30:00Z",
                }
            ]
        }
    )

    provider: str = Field(min_length=1, max_length=100)
    provider_user_id: str = Field(min_length=1, max_length=200)
    email: EmailAddress | None = None
    name: str | None = Field(default=None, max_length=200)
    authenticated_at: AwareDatetime
