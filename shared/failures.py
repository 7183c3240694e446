"""What a failed message becomes: the next ladder step, or a parked copy with its history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode

from shared import headers as h
from shared.errors import ContractError, DeferredError, PermanentError, TransientError
from shared.topology import RETRY_PREFIX, Topology

TRANSIENT = "transient"
EXHAUSTED = "exhausted"
PERMANENT = "permanent"
CONTRACT = "contract"
DELIVERY_LIMIT = "delivery_limit"


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the message to ladder step `step` (the exchange of that name)."""

    step: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Defer:
    """Wait on ladder step `step` without using an attempt (a scheduled message)."""

    step: str


@dataclass(frozen=True, slots=True)
class Park:
    """Park the message, for `reason` (a bounded reason class)."""

    reason: str
    attempts: int


def attempts_so_far(headers: Mapping[str, Any]) -> int:
    """Failed attempts recorded: our header, never less than the broker's own ladder count."""
    failed_hops = h.ladder_hops(headers, RETRY_PREFIX) - h.integer(headers.get(h.DEFERRALS))
    return max(h.integer(headers.get(h.ATTEMPTS)), failed_hops)


def defer(error: DeferredError, topology: Topology, now: datetime) -> Defer:
    """The longest ladder step that does not overshoot `until` (or the shortest one)."""
    remaining = (error.until - now).total_seconds()
    fitting = [
        (d, name)
        for d, name in zip(topology.delays, topology.ladder, strict=True)
        if d <= remaining
    ]
    if fitting:
        return Defer(max(fitting)[1])
    return Defer(min(zip(topology.delays, topology.ladder, strict=True))[1])


def reason_class(error: BaseException) -> str:
    """The bounded reason class a parking is counted under."""
    if isinstance(error, ContractError):
        return CONTRACT
    return getattr(error, "reason_class", PERMANENT)


def decide(error: BaseException, attempts: int, topology: Topology) -> Retry | Park:
    """What to do after failed attempt number `attempts` (1-based)."""
    if isinstance(error, PermanentError):
        return Park(reason_class(error), attempts)
    # TransientError, and unexpected exceptions (bugs that a deploy may fix), climb the ladder.
    if attempts > len(topology.delays):
        return Park(EXHAUSTED, attempts)
    index = attempts - 1
    retry_after = error.retry_after if isinstance(error, TransientError) else None
    if retry_after is not None:
        last = len(topology.delays) - 1
        at_least = next((i for i, d in enumerate(topology.delays) if d >= retry_after), last)
        index = max(index, at_least)
    return Retry(topology.ladder[index], attempts)


def failure_headers(
    incoming: Mapping[str, Any],
    *,
    queue: str,
    routing_key: str,
    attempts: int,
    reason: str,
    error: BaseException,
    error_text: str,
    service: str,
    version: str,
    now: datetime,
) -> dict[str, Any]:
    """The message's headers plus its failure history after this attempt."""
    stamp = now.isoformat()
    merged = dict(incoming)
    merged.setdefault(h.FIRST_FAILURE, stamp)
    merged.setdefault(h.ROUTING_KEY, routing_key)
    merged.update(
        {
            h.QUEUE: queue,
            h.ATTEMPTS: attempts,
            h.REASON: reason,
            h.LAST_FAILURE: stamp,
            h.ERROR_TYPE: type(error).__name__,
            h.ERROR_MESSAGE: error_text,
            h.SERVICE: service,
            h.VERSION: version,
        }
    )
    return merged


def copy_message(message: AbstractIncomingMessage, headers: Mapping[str, Any]) -> aio_pika.Message:
    """A persistent copy with the same body and properties and the given headers."""
    # user_id and expiration are left out: the broker checks user_id against the connection,
    # and an expiration would let the broker drop the copy.
    return aio_pika.Message(
        body=message.body,
        headers=dict(headers),
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )
