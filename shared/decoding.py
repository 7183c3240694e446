"""From AMQP message to validated CloudEvent, or a ContractError that says why not."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from contracts.base import Contract
from contracts.envelope import CloudEvent
from contracts.registry import (
    UnknownContractError,
    envelope_model,
    lookup,
    lookup_key,
    routing_key,
    version_of,
)
from shared.errors import ContractError, NotAcceptedError

MAX_PROBLEMS = 5


def describe(error: ValidationError, prefix: str = "", *, limit: int | None = MAX_PROBLEMS) -> str:
    """Each invalid field named with what is wrong, never the value it had (`limit`: how many)."""
    problems = [
        f"{prefix}{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]
    shown = problems if limit is None else problems[:limit]
    extra = len(problems) - len(shown)
    text = "; ".join(shown)
    return f"{text}; and {extra} more" if extra > 0 else text


@dataclass(frozen=True, slots=True)
class _Claim:
    """What an AMQP `type` resolves to; the same for every message of that type."""

    contract: type[Contract]
    model: type[CloudEvent[Any]]
    dataschema: str


@lru_cache(maxsize=1024)
def _claim(key: str) -> _Claim:
    """Resolve `TYPE.vN` once (regex, registry, envelope model), not once per message."""
    contract = lookup_key(key)
    return _Claim(contract, envelope_model(contract), contract.dataschema())


def contract_for(message: AbstractIncomingMessage, body: Any | None = None) -> type[Contract]:
    """The contract a message claims: from its AMQP `type`, else from its envelope."""
    try:
        if message.type:
            return _claim(message.type).contract
        if not isinstance(body, dict):
            raise ContractError("the body is not a CloudEvents JSON object")
        event_type, dataschema = body.get("type"), body.get("dataschema")
        version = version_of(dataschema) if isinstance(dataschema, str) else None
        if not isinstance(event_type, str) or version is None:
            raise ContractError("the event has no `type` or its `dataschema` names no version")
        return lookup(event_type, version)
    except (ValueError, UnknownContractError) as error:
        raise ContractError(str(error)) from error


def not_accepted(contract: type[Contract], door: str) -> NotAcceptedError:
    """The error for a contract that `door` may not produce."""
    return NotAcceptedError(
        f"contract not accepted at this door: {contract.key()} comes only from "
        f"{contract.PRODUCERS} ({door} may not produce it)"
    )


def decode_event(
    message: AbstractIncomingMessage,
    accepts: Collection[type[Contract]] = (),
    *,
    door: str | None = None,
) -> CloudEvent[Any]:
    """Validate the message body against the contract it names (one JSON parse).

    With `door`, a contract that door may not produce is refused before its body is validated.
    """
    body = None
    if message.type:
        claim = _claim_of(message)
    else:
        try:
            body = orjson.loads(message.body)
        except orjson.JSONDecodeError as error:
            raise ContractError(f"the body is not JSON: {error}") from error
        contract = contract_for(message, body)
        claim = _Claim(contract, envelope_model(contract), contract.dataschema())
    contract = claim.contract
    if door is not None and not contract.PRODUCERS.allow(door):
        raise not_accepted(contract, door)
    if accepts and contract not in accepts:
        raise ContractError(f"this queue does not handle {contract.key()}")
    try:
        event = (
            claim.model.model_validate_json(message.body)
            if body is None
            else claim.model.model_validate(body)
        )
    except ValidationError as error:
        raise ContractError(describe(error)) from error
    if event.dataschema != claim.dataschema:
        raise ContractError(f"dataschema should be {claim.dataschema}")
    own_key = routing_key(event.type, contract.VERSION)
    claimed = message.type or own_key
    if own_key != claimed or not _member(event.type, contract):
        raise ContractError(f"the event's type {event.type!r} does not match {claimed}")
    return event


def _claim_of(message: AbstractIncomingMessage) -> _Claim:
    try:
        return _claim(message.type or "")
    except (ValueError, UnknownContractError) as error:
        raise ContractError(str(error)) from error


def _member(event_type: str, contract: type[Contract]) -> bool:
    return event_type == contract.TYPE or (
        contract.FAMILY and event_type.startswith(contract.TYPE + ".")
    )
