"""Constrained field types shared by several contracts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Deliberately loose: real address validation is the mail provider's job; this catches typos.
EmailAddress = Annotated[
    str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
HealthStatus = Annotated[str, Field(pattern=r"^(healthy|degraded|unhealthy)$")]
