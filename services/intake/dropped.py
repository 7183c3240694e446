"""Messages producers drop into the `intake` queue: a CloudEvent, or a bare contract payload."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from contracts.base import Contract
from contracts.envelope import CONTENT_TYPE, CloudEvent, utc_now
from contracts.registry import UnknownContractError, envelope_model, lookup_key
from services.intake.routing import Router
from shared.consumer import Delivery, Handler
from shared.decoding import decode_event, describe
from shared.errors import ContractError

MAX_DROPPED_BYTES = 1024 * 1024
JSON_TYPES = ("", "application/json", CONTENT_TYPE)
DROPPED_SOURCE = "/intake/amqp"


def decode_dropped(
    message: AbstractIncomingMessage, accepts: Collection[type[Contract]] = ()
) -> CloudEvent[Any]:
    """A validated CloudEvent from whatever a producer dropped, or a ContractError saying why."""
    if len(message.body) > MAX_DROPPED_BYTES:
        raise ContractError(f"the body is larger than {MAX_DROPPED_BYTES} bytes")
    content_type = (message.content_type or "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise ContractError(f"content type {content_type!r} is not JSON")
    if content_type == CONTENT_TYPE or b'"specversion"' in message.body[:4096]:
        return decode_event(message, accepts)
    return _wrap_bare_payload(message)


def _wrap_bare_payload(message: AbstractIncomingMessage) -> CloudEvent[Any]:
    if not message.type:
        raise ContractError("a bare payload needs the AMQP `type` property, e.g. order.created.v1")
    try:
        contract = lookup_key(message.type)
    except (ValueError, UnknownContractError) as error:
        raise ContractError(str(error)) from error
    try:
        data = contract.model_validate_json(message.body)
    except ValidationError as error:
        raise ContractError(describe(error)) from error
    # Without a message id, the body's hash keeps the event id stable across redeliveries.
    event_id = message.message_id or str(
        uuid.uuid5(uuid.NAMESPACE_OID, hashlib.sha256(message.body).hexdigest())
    )
    return envelope_model(contract)(
        id=event_id,
        source=DROPPED_SOURCE if not message.app_id else f"{DROPPED_SOURCE}/{message.app_id}",
        type=contract.TYPE,
        time=_aware(message.timestamp) if message.timestamp else utc_now(),
        dataschema=contract.dataschema(),
        data=data,
        correlationid=message.correlation_id or event_id,
    )


def _aware(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def republisher(router: Router) -> Handler:
    """The handler of the `intake` step: route and publish, confirmed, before the ack."""

    async def republish(delivery: Delivery[Any]) -> None:
        await router.publish(delivery.event)

    return republish
