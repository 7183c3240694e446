"""Inspect, replay and purge parked messages; nothing is acked before its copy is confirmed."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
)

from contracts.envelope import utc_now
from shared import headers as h
from shared.causes import Cause, cause_of
from shared.errors import Reason
from shared.failures import replayed_copy
from shared.publishing import Confirmer
from shared.topology import PARKED_SUFFIX, Topology

_VERSION_SUFFIX = re.compile(r"\.v[0-9]+$")
REPLAY_WINDOW = 100  # confirms in flight at once while replaying


@dataclass(frozen=True)
class ParkedMessage:
    """A parked message as an operator sees it."""

    message_id: str | None
    event_type: str | None
    queue: str
    reason: str
    error_type: str
    error: str
    attempts: int
    first_failure: str | None
    last_failure: str | None
    service: str | None
    body: bytes
    routing_key: str | None = None
    version: str | None = None
    parked_queue: str = ""  # where it was read from (its header `queue` is the producer's word)


def cause(parked: ParkedMessage) -> Cause:
    """The cause it is grouped under (`eventyard parked groups`)."""
    queue = work_queue_of(parked.parked_queue or parked.queue)
    return cause_of(queue, parked.reason, parked.error_type, parked.error)


def work_queue_of(parked_queue: str) -> str:
    """`order-followup.crm.parked` -> `order-followup.crm`."""
    return parked_queue.removesuffix(PARKED_SUFFIX)


def own_parked_queue(topology: Topology, queue: str) -> str:
    """The parked queue of one of the yard's work queues, named either way; KeyError otherwise.

    Only the topology's own: a queue elsewhere on the broker that merely ends in `.parked`
    belongs to someone else, and replaying or purging it would move or lose their messages.
    """
    return topology.queue(queue.removesuffix(PARKED_SUFFIX)).parked


def read_parked(message: AbstractIncomingMessage, parked_queue: str) -> ParkedMessage:
    """Read a parked message's failure history (ours, or the broker's for crash loops)."""
    headers = message.headers or {}
    reason = h.text(headers.get(h.REASON))
    error_type = h.text(headers.get(h.ERROR_TYPE))
    if error_type is None and _broker_reason(headers) == Reason.DELIVERY_LIMIT:
        # The broker parked it: the worker died on it again and again, nobody could say why.
        reason, error_type = Reason.DELIVERY_LIMIT, "DeliveryLimitExceeded"
    return ParkedMessage(
        message_id=message.message_id,
        event_type=message.type or _body_type(message.body),
        queue=h.text(headers.get(h.QUEUE)) or work_queue_of(parked_queue),
        reason=reason or "unknown",
        error_type=error_type or "unknown",
        error=h.text(headers.get(h.ERROR_MESSAGE)) or "",
        attempts=h.integer(headers.get(h.ATTEMPTS), h.integer(headers.get("x-delivery-count"))),
        first_failure=h.text(headers.get(h.FIRST_FAILURE)),
        last_failure=h.text(headers.get(h.LAST_FAILURE)),
        service=h.text(headers.get(h.SERVICE)),
        body=message.body,
        routing_key=h.text(headers.get(h.ROUTING_KEY)) or message.type,
        version=h.text(headers.get(h.VERSION)),
        parked_queue=parked_queue,
    )


def matches(
    parked: ParkedMessage, event_type: str | None, error: str | None, group: str | None = None
) -> bool:
    """Whether a parked message passes the `--type`, `--error` and `--group` filters."""
    if event_type and not _same_type(event_type, parked.event_type):
        return False
    if group and cause(parked).id != group:
        return False
    if error:
        needle = error.lower()
        haystack = f"{parked.error_type} {parked.reason} {parked.error}".lower()
        if needle not in haystack:
            return False
    return True


class QueueCounter:
    """Passive declares on one reused channel, reopened only after a missing queue closed it."""

    def __init__(self, connection: AbstractConnection) -> None:
        self._connection = connection
        self._channel: AbstractChannel | None = None

    async def count(self, queue: str) -> tuple[int, int] | None:
        """(messages ready, consumers) of a queue, or None if it does not exist."""
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel()
        try:
            declared = await self._channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            # The broker closed it over the missing queue. Close our side too: on a robust
            # connection aio-pika would otherwise reopen it and nobody would close it again.
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = None
            return None
        result = declared.declaration_result
        return result.message_count or 0, result.consumer_count or 0

    async def close(self) -> None:
        """Close the channel, if open."""
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await self._channel.close()


async def depth(connection: AbstractConnection, queue: str) -> tuple[int, int] | None:
    """(messages ready, consumers) of one queue, or None if it does not exist."""
    counter = QueueCounter(connection)
    try:
        return await counter.count(queue)
    finally:
        await counter.close()


async def peek(
    connection: AbstractConnection, parked_queue: str, limit: int
) -> list[ParkedMessage]:
    """Up to `limit` parked messages from the head; all stay parked."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(parked_queue, passive=True)
        seen: list[ParkedMessage] = []
        while len(seen) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            seen.append(read_parked(message, parked_queue))
        return seen
    finally:
        # Closing the channel returns every unacked message to the queue.
        with contextlib.suppress(Exception):
            await channel.close()


@dataclass(frozen=True)
class Summary:
    """One parked queue at a glance."""

    queue: str
    count: int
    oldest: str | None
    top_errors: list[tuple[str, int]]


async def summarize(connection: AbstractConnection, parked_queue: str, sample: int) -> Summary:
    """Count, oldest failure and the commonest error types (from the first `sample`)."""
    found = await depth(connection, parked_queue)
    count = found[0] if found else 0
    messages = await peek(connection, parked_queue, min(sample, count)) if count else []
    stamps = [m.last_failure or m.first_failure for m in messages]
    oldest = min((s for s in stamps if s), default=None)
    errors = Counter(m.error_type for m in messages).most_common(3)
    return Summary(parked_queue, count, oldest, errors)


@dataclass
class ReplayResult:
    """What a replay did."""

    matched: int = 0
    replayed: int = 0
    scanned: int = 0


async def replay(
    connection: AbstractConnection,
    confirmer: Confirmer,
    parked_queue: str,
    *,
    limit: int | None = None,
    event_type: str | None = None,
    error: str | None = None,
    group: str | None = None,
    dry_run: bool = False,
    progress: Callable[[ReplayResult], None] = lambda _: None,
) -> ReplayResult:
    """Move matching parked messages back to their work queue with a fresh attempt count.

    Only the messages parked when the replay starts are looked at: one that fails again and is
    parked anew while the replay runs waits for the next replay instead of looping in this one.
    """
    target = work_queue_of(parked_queue)
    result = ReplayResult()
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(parked_queue, passive=True)
        present = queue.declaration_result.message_count or 0
        window = asyncio.Semaphore(REPLAY_WINDOW)
        moves: list[asyncio.Task[None]] = []
        failed = asyncio.Event()

        async def move(message: AbstractIncomingMessage) -> None:
            try:
                await confirmer.send("", target, replayed_copy(message, utc_now()))
                await message.ack()
            except BaseException:
                failed.set()
                raise
            finally:
                window.release()
            result.replayed += 1
            progress(result)

        while result.scanned < present and (limit is None or result.matched < limit):
            if failed.is_set():
                break  # the broker refused a copy: stop; what was not acked stays parked
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            result.scanned += 1
            if not matches(read_parked(message, parked_queue), event_type, error, group):
                continue  # stays unacked until the channel closes, then returns to the queue
            result.matched += 1
            if dry_run:
                progress(result)
                continue
            await window.acquire()
            moves.append(asyncio.create_task(move(message)))
        await asyncio.gather(*moves)
        return result
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def purge(connection: AbstractConnection, parked_queue: str) -> int:
    """Delete every message of a parked queue; returns how many there were."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(parked_queue, passive=True)
        purged = await queue.purge()
        return purged.message_count or 0
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


def _same_type(wanted: str, actual: str | None) -> bool:
    """`order.created` matches `order.created.v1`; `order.created.v2` matches only itself."""
    if actual is None:
        return False
    return wanted in (actual, _VERSION_SUFFIX.sub("", actual))


def _broker_reason(headers: Mapping[str, Any]) -> str | None:
    entries = h.deaths(headers)
    return h.text(entries[0].get("reason")) if entries else None


def _body_type(body: bytes) -> str | None:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = decoded.get("type") if isinstance(decoded, dict) else None
    return value if isinstance(value, str) else None
