"""The configured webhook sources, checked at start-up, and the event each delivery becomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from contracts.base import INTAKE_HTTP
from contracts.envelope import CloudEvent, utc_now
from contracts.registry import UnknownContractError, lookup_key, resolve
from contracts.webhooks import WebhookReceivedV1
from services.intake.signatures import usable_secret
from shared.config import SourceConfig, read_secret
from shared.decoding import contract_errors
from shared.errors import ConfigError, ContractError

# Event ids derive from source and delivery id, so every replica names a repeat the same way.
EVENT_ID_NAMESPACE = uuid.UUID("4f3b6f0e-8d4e-4a57-9a3c-2f0c1f7b9e10")
SECRET_FORMS = {
    "standard-webhooks": "non-empty base64, optionally prefixed whsec_",
    "stripe": "not blank",
    "github": "not blank",
    "hmac-sha256": "not blank",
}


@dataclass(frozen=True)
class Source:
    """A configured source with its secret values (newest first)."""

    name: str
    config: SourceConfig
    secrets: tuple[str, ...]


def load_source(name: str, config: SourceConfig) -> Source:
    """Read the source's secrets from the environment; ConfigError if any could never verify."""
    secrets: list[str] = []
    for env_name in config.secrets:
        secret = read_secret(env_name)
        if not usable_secret(config.scheme, secret):
            # Named by its variable, never shown: the value is the secret.
            raise ConfigError(
                f"secret {env_name} of source {name!r} is not a {config.scheme} secret "
                f"(it must be {SECRET_FORMS[config.scheme]})"
            )
        secrets.append(secret)
    for provider_type, target in config.map.items():
        _check_mapping(name, provider_type, target)
    try:
        received_event(name, "start-up-check", None, None)
    except ContractError as error:
        # Otherwise every delivery to this source would fail in the same way.
        raise ConfigError(f"source {name!r} cannot name its events: {error}") from None
    return Source(name, config, tuple(secrets))


def _check_mapping(source: str, provider_type: str, target: str) -> None:
    """A mapping must name a contract that a verified webhook may produce."""
    try:
        contract = lookup_key(target)
    except (ValueError, UnknownContractError) as error:
        raise ConfigError(
            f"source {source!r} maps {provider_type!r} to {target!r}: {error}"
        ) from None
    if not contract.PRODUCERS.allow(INTAKE_HTTP):
        raise ConfigError(
            f"source {source!r} maps {provider_type!r} to {target}, which only "
            f"{contract.PRODUCERS} may produce"
        )


def received_event(
    source: str,
    webhook_id: str,
    provider_type: str | None,
    payload: Any,
    *,
    key: str | None = None,
) -> CloudEvent[Any]:
    """The `webhook.received.<source>` event for one delivery; ContractError if it cannot be.

    Its id derives from `key` (what the signature covers; `webhook_id` when not given), so a
    repeat of the same signed delivery is the same event on every replica.
    """
    event_id = str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{source}:{key or webhook_id}"))
    resolved = resolve(WebhookReceivedV1)
    with contract_errors():
        data = WebhookReceivedV1(
            source=source,
            webhook_id=webhook_id,
            provider_type=provider_type,
            received_at=utc_now(),
            payload=payload,
        )
        return resolved.envelope(
            id=event_id,
            source=f"/webhooks/{source}",
            type=f"{WebhookReceivedV1.TYPE}.{source}",
            time=data.received_at,
            dataschema=resolved.dataschema,
            subject=webhook_id,
            data=data,
            correlationid=event_id,
        )
