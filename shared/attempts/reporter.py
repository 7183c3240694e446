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

from pydantic import ValidationError

from contracts.attempts import (
    EXCERPT_CHARS,
    ID_CHARS,
    MAX_RECORDS,
    NAME_CHARS,
    AttemptRecord,
    AttemptsRecordedV1,
)
from shared.attempts.model import Attempt
from shared.errors import PublishError
from shared.metrics import Metrics
from shared.publishing import Emitter

log = logging.getLogger(__name__)

_BOUNDS = {
    "event_id": ID_CHARS,
    "event_type": NAME_CHARS,
    "target": NAME_CHARS,
    "error_class": NAME_CHARS,
    "rung": NAME_CHARS,
    "excerpt": EXCERPT_CHARS,
}


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
        self._waiting: deque[Attempt] = deque(maxlen=capacity)
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        counter = metrics.attempts
        self._dropped = counter.labels(service, "dropped")
        self._invalid = counter.labels(service, "invalid")
        self._reported = counter.labels(service, "reported")

    @property
    def waiting(self) -> tuple[Attempt, ...]:
        """The attempts not yet published, oldest first."""
        return tuple(self._waiting)

    def add(self, attempt: Attempt) -> None:
        """Take one attempt for the next batch (never waits; drops the oldest when full)."""
        waiting = self._waiting
        if len(waiting) == waiting.maxlen:
            self._dropped.inc()
        waiting.append(attempt)
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
            records = self._records(batch)
            if not records:
                continue
            try:
                await self._emitter.publish(
                    AttemptsRecordedV1(service=self._service, records=records),
                    require_route=False,
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

    def _records(self, batch: list[Attempt]) -> list[AttemptRecord]:
        records = []
        for attempt in batch:
            values = {name: getattr(attempt, name) for name in Attempt.__slots__}
            for name, bound in _BOUNDS.items():
                text = values[name]
                if isinstance(text, str) and len(text) > bound:
                    values[name] = text[:bound]
            try:
                records.append(AttemptRecord.model_validate(values))
            except ValidationError:  # counted, never a reason to lose the whole batch
                self._invalid.inc()
        return records

    def _room(self) -> int:
        maxlen = self._waiting.maxlen or 0
        return maxlen - len(self._waiting)
