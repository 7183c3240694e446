"""From AMQP message to validated CloudEvent, or a ContractError that says why not."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from contracts.base import Contract
from contracts.envelope import CloudEvent
from contracts.registry import (
    Resolved,
    UnknownContractError,
    lookup,
    resolve,
    resolve_key,
    version_of,
)
from shared.errors import ContractError, NotAcceptedError

MAX_PROBLEMS = 5


def explain(error: ValidationError, prefix: str = "", *, limit: int | None = MAX_PROBLEMS) -> str:
    """Each invalid field named with what is wrong, never the value it had (`limit`: how many)."""
    problems = [
        f"{prefix}{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]
    shown = problems if limit is None else problems[:limit]
    extra = len(problems) - len(shown)
    text = "; ".join(shown)
    return f"{text}; and {extra} more" if extra > 0 else text


class contract_errors:  # lower case: it reads as the function it stands in for
    """Turn what looking up and validating a contract raises into one ContractError saying why.

    The one place pydantic's ValidationError, a malformed key's or JSON's ValueError and an
    unknown contract become the yard's error; every door and decoder validates inside it. A
    class rather than a generator-based context manager: it runs twice for every message.
    """

    __slots__ = ("_prefix",)

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if isinstance(error, ValidationError):
            raise ContractError(self._prefix + explain(error)) from error
        if isinstance(error, ValueError | UnknownContractError):
            raise ContractError(self._prefix + str(error)) from error


def contract_for(message: AbstractIncomingMessage, body: Any | None = None) -> Resolved:
    """The contract a message claims: from its AMQP `type`, else from its envelope."""
    with contract_errors():
        if message.type:
            return resolve_key(message.type)
        if not isinstance(body, dict):
            raise ContractError("the body is not a CloudEvents JSON object")
        event_type, dataschema = body.get("type"), body.get("dataschema")
        version = version_of(dataschema) if isinstance(dataschema, str) else None
        if not isinstance(event_type, str) or version is None:
            raise ContractError("the event has no `type` or its `dataschema` names no version")
        return resolve(lookup(event_type, version))


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
    if not message.type:
        with contract_errors("the body is not JSON: "):
            body = orjson.loads(message.body)
    claim = contract_for(message, body)
    contract = claim.contract
    if door is not None and not contract.PRODUCERS.allow(door):
        raise not_accepted(contract, door)
    if accepts and contract not in accepts:
        raise ContractError(f"this queue does not handle {contract.key()}")
    with contract_errors():
        event = (
            claim.envelope.model_validate_json(message.body)
            if body is None
            else claim.envelope.model_validate(body)
        )
    if event.dataschema != claim.dataschema:
        raise ContractError(f"dataschema should be {claim.dataschema}")
    own_key = claim.routing_key(event.type)
    claimed = message.type or own_key
    if own_key != claimed or not _member(event.type, contract):
        raise ContractError(f"the event's type {event.type!r} does not match {claimed}")
    return event


def _member(event_type: str, contract: type[Contract]) -> bool:
    return event_type == contract.TYPE or (
        contract.FAMILY and event_type.startswith(contract.TYPE + ".")
    )
