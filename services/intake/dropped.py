"""Messages producers drop into the `intake` queue: a CloudEvent, or a bare contract payload.

Every AMQP client of the company can reach this door, so it admits only the contracts whose
PRODUCERS include `drop`, bounds what it reads before parsing, and parks the rest at once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from contracts.base import DROP, Contract
from contracts.envelope import CONTENT_TYPE, MAX_ID, MAX_TYPE, CloudEvent, utc_now
from contracts.registry import resolve_key
from services.intake.routing import Router
from shared.bounded_json import JsonTooDeepError, check_depth
from shared.consumer import Handler, Incoming
from shared.decoding import contract_errors, decode_event, not_accepted
from shared.errors import ContractError

MAX_DROPPED_BYTES = 1024 * 1024
JSON_TYPES = ("", "application/json", CONTENT_TYPE)
# Some clients name the charset here; a compression would hide the body from every check.
PLAIN_ENCODINGS = ("", "identity", "utf-8", "utf8")
DROPPED_SOURCE = "/intake/amqp"
MAX_APP_ID = 100
MAX_HEADERS = 64
MAX_HEADER_VALUE = 1024
# AMQP properties a bare payload's envelope is built from, with the longest value each may have.
PROPERTY_LIMITS = {
    "message_id": MAX_ID,
    "correlation_id": MAX_ID,
    "app_id": MAX_APP_ID,
    "type": MAX_TYPE + len(".v9999"),
}


def decode_dropped(
    message: AbstractIncomingMessage, accepts: Collection[type[Contract]] = ()
) -> CloudEvent[Any]:
    """A validated CloudEvent from whatever a producer dropped, or a ContractError saying why."""
    if len(message.body) > MAX_DROPPED_BYTES:
        raise ContractError(f"the body is larger than {MAX_DROPPED_BYTES} bytes")
    _check_properties(message)
    content_type = (message.content_type or "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise ContractError(f"content type {content_type[:50]!r} is not JSON")
    try:
        check_depth(message.body)
    except JsonTooDeepError as error:
        raise ContractError(f"the body's {error}") from None
    if content_type == CONTENT_TYPE or b'"specversion"' in message.body[:4096]:
        return decode_event(message, accepts, door=DROP)
    return _wrap_bare_payload(message)


def _check_properties(message: AbstractIncomingMessage) -> None:
    """Refuse over-long or control-character properties and oversized headers, before parsing."""
    encoding = (message.content_encoding or "").strip().lower()
    if encoding not in PLAIN_ENCODINGS:
        raise ContractError(f"content encoding {encoding[:50]!r} is not accepted; drop plain JSON")
    for name, limit in PROPERTY_LIMITS.items():
        value = getattr(message, name) or ""
        if len(value) > limit:
            raise ContractError(f"invalid {name}: over the {limit}-character limit")
        if not value.isprintable():
            raise ContractError(f"invalid {name}: control characters")
    headers = message.headers or {}
    if len(headers) > MAX_HEADERS:
        raise ContractError(f"invalid headers: more than {MAX_HEADERS}")
    for value in headers.values():
        if isinstance(value, str | bytes | bytearray) and len(value) > MAX_HEADER_VALUE:
            raise ContractError(f"invalid headers: a value over {MAX_HEADER_VALUE} characters")


def _wrap_bare_payload(message: AbstractIncomingMessage) -> CloudEvent[Any]:
    if not message.type:
        raise ContractError("a bare payload needs the AMQP `type` property, e.g. order.created.v1")
    with contract_errors():
        resolved = resolve_key(message.type)
    contract = resolved.contract
    if not contract.PRODUCERS.allow(DROP):
        raise not_accepted(contract, DROP)
    with contract_errors():
        data = contract.model_validate_json(message.body)
    # Without a message id, the body's hash keeps the event id stable across redeliveries.
    event_id = message.message_id or str(
        uuid.uuid5(uuid.NAMESPACE_OID, hashlib.sha256(message.body).hexdigest())
    )
    with contract_errors("invalid properties: "):
        return resolved.envelope(
            id=event_id,
            source=DROPPED_SOURCE if not message.app_id else f"{DROPPED_SOURCE}/{message.app_id}",
            type=contract.TYPE,
            time=_aware(message.timestamp) if message.timestamp else utc_now(),
            dataschema=resolved.dataschema,
            data=data,
            correlationid=message.correlation_id or event_id,
        )


def _aware(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def republisher(router: Router) -> Handler:
    """The handler of the `intake` step: route and publish, confirmed, before the ack."""

    async def republish(incoming: Incoming[Any]) -> None:
        await router.publish(incoming.event, DROP)

    return republish
