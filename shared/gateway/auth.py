"""Credential headers, read from the environment at call time and taught to the redactor."""

from __future__ import annotations

import base64

from shared.config import read_secret
from shared.errors import ConfigError
from shared.gateway.policy import EndpointPolicy
from shared.redact import Redactor


def credential_slots(policy: EndpointPolicy) -> list[int | None]:
    """The credential indexes to try in order, newest first; `[None]` when there is no auth."""
    if policy.auth == "none":
        return [None]
    return list(range(len(policy.credentials)))


def auth_headers(policy: EndpointPolicy, index: int | None, redactor: Redactor) -> dict[str, str]:
    """The headers that present credential `index` (none for `auth = "none"`)."""
    if policy.auth == "none" or index is None:
        return {}
    name = policy.credentials[index]
    value = read_secret(name)
    # Whatever the far end echoes back (or an error message quotes) must not carry the secret.
    redactor.add(value)
    if policy.auth == "bearer":
        return {"Authorization": f"Bearer {value}"}
    if policy.auth == "basic":
        _user, colon, password = value.partition(":")
        if not colon:
            raise ConfigError(f"secret {name} for basic auth must be user:password")
        token = base64.b64encode(value.encode()).decode("ascii")
        redactor.add(password)
        redactor.add(token)
        return {"Authorization": f"Basic {token}"}
    return {policy.auth_header: value}
