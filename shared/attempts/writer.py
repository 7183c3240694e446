"""Group commit for the attempts log: the rows of every write waiting at once go in one
transaction, and each writer returns once its row is committed (or raises what the commit did).

Written here rather than with a library: it is the few lines between a consumer's concurrent
handlers and one database transaction, and an ack must still wait for its own row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from shared.attempts.model import Attempt

MAX_BATCH = 500


class Recorder(Protocol):
    """Writes rows in one transaction (an AttemptsStore, or what opens one)."""

    async def record(self, rows: Sequence[Attempt]) -> None:
        """Commit the rows, or raise."""
        ...


class GroupWriter:
    """Writes rows for many concurrent callers, a transaction per batch."""

    def __init__(self, store: Recorder) -> None:
        self._store = store
        self._pending: list[tuple[Attempt, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, row: Attempt) -> None:
        """Return once `row` is committed; raise the database's error if its batch failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="attempts-group-commit")
        await asyncio.shield(done)  # a cancelled caller leaves the batch to finish for the rest

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self._store.record([row for row, _ in batch])
            except Exception as error:  # handed to every writer of the batch, who decides
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
