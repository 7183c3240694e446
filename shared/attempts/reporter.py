"""A service's attempts, published for the log as `attempts.recorded.v1` a batch at a time.

Off the hot path: a handler's attempt is appended to a bounded buffer (no I/O, no wait), and a
task of its own publishes the buffer every `interval` seconds or once `MAX_RECORDS` wait. One
message per batch rather than one per attempt: a per-attempt outcome event through a quorum
queue cost the publisher half its rate on two cores (bench/README.md, comparison 9).

The log is a record, not a promise: a process killed between two batches loses those
attempts from the log (never a message), and beyond `capacity` waiting attempts (a broker
that refuses the batches) the oldest are dropped; both are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any, NamedTuple

from contracts.attempts import (
    EXCERPT_CHARS,
    ID_CHARS,
    MAX_RECORDS,
    NAME_CHARS,
    REQUEST_CHARS,
    AttemptKind,
    AttemptsRecordedV1,
)
from contracts.envelope import CloudEvent, new_event_id, utc_now
from contracts.registry import resolve
from shared.attempts.model import Attempt
from shared.errors import PublishError
from shared.metrics import Metrics
from shared.publishing import Emitter

log = logging.getLogger(__name__)
DATA_MEMBER = b'"data":'


class Pending(NamedTuple):
    """An attempt as a handler's path records it: cheap to make (a tuple and a float clock);
    made into a record only when its batch is published."""

    event_id: str
    event_type: str
    kind: AttemptKind
    target: str
    attempt: int
    at: float  # seconds since the epoch (time.time())
    outcome: str
    duration_ms: float | None = None
    status_code: int | None = None
    error_class: str | None = None
    excerpt: str | None = None
    rung: str | None = None
    request: bytes | None = None  # the message's body, cut to its data's excerpt at flush


def row_of(pending: Pending) -> dict[str, Any]:
    """The attempt as the contract's record, texts cut to their bounds and values kept in
    their ranges.

    A plain dict, not a validated model: pydantic's validation (or even `model_construct`) was
    most of the reporter's cost per attempt, measured, and every value here comes from the
    yard's own code; these are the only constraints it could break. health validates each
    batch as it consumes it (a batch it refused would be parked with the reason).
    """
    status = pending.status_code
    return {
        "event_id": pending.event_id[:ID_CHARS] or "-",
        "event_type": pending.event_type[:NAME_CHARS],
        "kind": pending.kind,
        "target": pending.target[:NAME_CHARS] or "-",
        "attempt": max(1, pending.attempt),
        "at": datetime.fromtimestamp(pending.at, UTC),
        "outcome": pending.outcome[:20],
        "duration_ms": None if pending.duration_ms is None else max(0.0, pending.duration_ms),
        "status_code": status if status is not None and 100 <= status <= 599 else None,
        "error_class": _cut(pending.error_class, NAME_CHARS),
        "excerpt": _cut(pending.excerpt, EXCERPT_CHARS),
        "rung": _cut(pending.rung, NAME_CHARS),
        "request": request_excerpt(pending.request) if pending.request else None,
    }


def request_excerpt(body: bytes) -> str:
    """The part of a message worth showing: a CloudEvent's `data` onward (its envelope is in the
    row already), else the body's start; at most REQUEST_CHARS characters."""
    start = body.find(DATA_MEMBER)
    window = body[max(start, 0) : max(start, 0) + REQUEST_CHARS * 4]  # UTF-8: <= 4 bytes each
    return window.decode("utf-8", "replace")[:REQUEST_CHARS]


def _cut(text: str | None, bound: int) -> str | None:
    return text[:bound] if text is not None else None


class AttemptReporter:
    """Gathers one service's attempts and publishes them in batches."""

    def __init__(
        self,
        service: str,
        emitter: Emitter,
        metrics: Metrics,
        *,
        interval: float = 0.5,
        capacity: int = 10_000,
    ) -> None:
        self._service = service
        self._emitter = emitter
        self._interval = interval
        self._waiting: deque[Pending] = deque(maxlen=capacity)
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resolved = resolve(AttemptsRecordedV1)
        self._key = self._resolved.key
        counter = metrics.attempts
        self._dropped = counter.labels(service, "dropped")
        self._reported = counter.labels(service, "reported")

    @property
    def waiting(self) -> tuple[Attempt, ...]:
        """The attempts not yet published, oldest first, as the log will hold them."""
        return tuple(Attempt(**row_of(p)) for p in self._waiting)

    def add(self, pending: Pending) -> None:
        """Take one attempt for the next batch (never waits; drops the oldest when full)."""
        waiting = self._waiting
        if len(waiting) == waiting.maxlen:
            self._dropped.inc()
        waiting.append(pending)
        if len(waiting) >= MAX_RECORDS:
            self._full.set()

    def start(self) -> None:
        """Start publishing batches in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="attempts-reporter")

    async def close(self, grace: float) -> None:
        """Stop, then publish what waits (for up to `grace` seconds)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), grace)

    async def flush(self) -> None:
        """Publish every waiting attempt; on a refused batch, keep the rest for the next try."""
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(MAX_RECORDS, len(self._waiting)))]
            records = [row_of(p) for p in batch]
            try:
                await self._emitter.publish_event(
                    self._event({"service": self._service, "records": records}),
                    require_route=False,
                    key=self._key,
                )
            except PublishError as error:
                # Back at the front, to go first once the broker takes batches again; what no
                # longer fits (attempts added meanwhile) is the oldest, and dropped.
                kept = batch[max(0, len(batch) - self._room()) :]
                self._dropped.inc(len(batch) - len(kept))
                self._waiting.extendleft(reversed(kept))
                log.warning("attempts not reported yet: %s", type(error).__name__)
                return
            self._reported.inc(len(records))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._interval)
            self._full.clear()
            try:
                await self.flush()
            except Exception:  # the next round tries again; the service goes on regardless
                log.exception("attempts reporter round failed")

    def _event(self, data: dict[str, Any]) -> CloudEvent[Any]:
        """The batch's envelope; `data` as `AttemptsRecordedV1` reads it (see `row_of`)."""
        event_id = new_event_id()
        return CloudEvent[Any](
            id=event_id,
            source=f"eventyard/{self._service}",
            type=AttemptsRecordedV1.TYPE,
            time=utc_now(),
            dataschema=self._resolved.dataschema,
            data=data,
            correlationid=event_id,
        )

    def _room(self) -> int:
        maxlen = self._waiting.maxlen or 0
        return maxlen - len(self._waiting)
