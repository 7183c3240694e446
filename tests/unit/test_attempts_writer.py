"""Group commit: concurrent writes share a transaction, and each learns its batch's fate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import pytest

from shared.attempts.store import Attempt, AttemptsStore
from shared.attempts.writer import GroupWriter

ROW = Attempt("e", "t", "delivery", "partner", 1, datetime(2026, 12, 3, tzinfo=UTC), "succeeded")


class Store:
    """Records each transaction's rows; fails while `broken`."""

    def __init__(self) -> None:
        self.transactions: list[int] = []
        self.broken = False

    async def record(self, rows: Sequence[Attempt]) -> None:
        await asyncio.sleep(0.01)  # a commit takes time: writers pile up behind it
        if self.broken:
            raise OSError("disk full")
        self.transactions.append(len(rows))


async def test_concurrent_writes_are_committed_together() -> None:
    store = Store()
    writer = GroupWriter(cast(AttemptsStore, store))
    await asyncio.gather(*(writer.write(ROW) for _ in range(50)))
    assert sum(store.transactions) == 50
    assert len(store.transactions) <= 3  # the first alone, then the rest in one or two


async def test_every_writer_of_a_failed_batch_gets_the_error_and_the_next_batch_works() -> None:
    store = Store()
    writer = GroupWriter(cast(AttemptsStore, store))
    store.broken = True
    results = await asyncio.gather(*(writer.write(ROW) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    store.broken = False
    await writer.write(ROW)
    assert store.transactions == [1]


async def test_a_cancelled_writer_leaves_its_batch_to_finish() -> None:
    store = Store()
    writer = GroupWriter(cast(AttemptsStore, store))
    first = asyncio.create_task(writer.write(ROW))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await writer.write(ROW)
    assert sum(store.transactions) == 2
