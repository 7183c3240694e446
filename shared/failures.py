"""What a failed message becomes: the next rung of the ladder, or a parked copy with its history.

The one home of every copy the yard makes of a message it could not finish: the retry copy and
the parked copy (`failed_copy`), the deferred copy, the replayed copy, and the parked form of an
event that never was an AMQP message (`parked_event`). Each is persistent and keeps the body and
properties; only the headers say what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode

from contracts.envelope import CloudEvent
from shared import headers as h
from shared.errors import DeferredError, PermanentError, Reason, TransientError
from shared.publishing import event_message
from shared.topology import RETRY_PREFIX, Topology


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the message up the ladder to rung `rung` (the exchange of that name)."""

    rung: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Defer:
    """Wait on rung `rung` without using an attempt (a scheduled message)."""

    rung: str


@dataclass(frozen=True, slots=True)
class Park:
    """Park the message, for `reason`."""

    reason: Reason
    attempts: int


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt at a message: where, which attempt, why, and who says so."""

    queue: str
    routing_key: str
    attempts: int
    reason: Reason
    error: BaseException
    error_text: str  # already redacted and bounded
    service: str
    version: str
    at: datetime

    def headers(self, incoming: Mapping[str, Any]) -> dict[str, Any]:
        """The message's headers plus its failure history after this attempt."""
        stamp = self.at.isoformat()
        merged = dict(incoming)
        merged.setdefault(h.FIRST_FAILURE, stamp)
        merged.setdefault(h.ROUTING_KEY, self.routing_key)
        merged.update(
            {
                h.QUEUE: self.queue,
                h.ATTEMPTS: self.attempts,
                h.REASON: str(self.reason),
                h.LAST_FAILURE: stamp,
                h.ERROR_TYPE: type(self.error).__name__,
                h.ERROR_MESSAGE: self.error_text,
                h.SERVICE: self.service,
                h.VERSION: self.version,
            }
        )
        return merged


def attempts_so_far(headers: Mapping[str, Any]) -> int:
    """Failed attempts recorded: our header, never less than the broker's own ladder count."""
    failed_hops = h.ladder_hops(headers, RETRY_PREFIX) - h.integer(headers.get(h.DEFERRALS))
    return max(h.integer(headers.get(h.ATTEMPTS)), failed_hops)


def defer(error: DeferredError, topology: Topology, now: datetime) -> Defer:
    """The longest rung that does not overshoot `until` (or the shortest one)."""
    remaining = (error.until - now).total_seconds()
    fitting = [
        (d, name)
        for d, name in zip(topology.delays, topology.ladder, strict=True)
        if d <= remaining
    ]
    if fitting:
        return Defer(max(fitting)[1])
    return Defer(min(zip(topology.delays, topology.ladder, strict=True))[1])


def parked_reason(error: BaseException) -> Reason:
    """The reason a message that failed with `error` is parked under at once."""
    return error.reason_class if isinstance(error, PermanentError) else Reason.PERMANENT


def decide(error: BaseException, attempts: int, topology: Topology) -> Retry | Park:
    """What to do after failed attempt number `attempts` (1-based)."""
    if isinstance(error, PermanentError):
        return Park(error.reason_class, attempts)
    # TransientError, and unexpected exceptions (bugs that a deploy may fix), climb the ladder.
    if attempts > len(topology.delays):
        return Park(Reason.EXHAUSTED, attempts)
    index = attempts - 1
    retry_after = error.retry_after if isinstance(error, TransientError) else None
    if retry_after is not None:
        last = len(topology.delays) - 1
        at_least = next((i for i, d in enumerate(topology.delays) if d >= retry_after), last)
        index = max(index, at_least)
    return Retry(topology.ladder[index], attempts)


def copy_with(message: AbstractIncomingMessage, headers: Mapping[str, Any]) -> aio_pika.Message:
    """A persistent copy with the same body and properties and exactly these headers."""
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


def failed_copy(message: AbstractIncomingMessage, failure: Failure) -> aio_pika.Message:
    """The copy for the ladder or the parked queue: its headers carry the failure history."""
    return copy_with(message, failure.headers(message.headers or {}))


def deferred_copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    """The copy that waits on the ladder without using an attempt."""
    headers = dict(message.headers or {})
    headers[h.DEFERRALS] = h.integer(headers.get(h.DEFERRALS)) + 1
    return copy_with(message, headers)


def replayed_copy(message: AbstractIncomingMessage, now: datetime) -> aio_pika.Message:
    """A parked message sent back to its work queue: no failure history, a fresh attempt count."""
    dropped = h.FAILURE_HEADERS | h.BROKER_HEADERS
    headers: dict[str, Any] = {k: v for k, v in (message.headers or {}).items() if k not in dropped}
    headers[h.REPLAYED] = now.isoformat()
    return copy_with(message, headers)


def parked_event(
    event: CloudEvent[Any], failure: Failure, headers: Mapping[str, Any] | None = None
) -> aio_pika.Message:
    """An event that failed before it ever was an AMQP message (an HTTP webhook), parked as one
    (`headers`: what it carries besides its failure history, such as its trace context)."""
    return event_message(event, failure.headers(headers or {}))
