"""The attempts log's writer: a consumer of the services' attempts, never in their hot path.

Each `attempts.recorded.v1` is one service's batch of attempts (deliveries, sends, commands,
inbound webhooks), written in one transaction. A store that is down makes this queue wait on
the ladder; nothing else notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from contracts.attempts import AttemptsRecordedV1
from contracts.base import Contract
from contracts.envelope import utc_now
from shared.attempts.model import Attempt, LogUnavailableError
from shared.consumer import Handler, Incoming
from shared.errors import TransientError
from shared.redact import Redactor
from shared.settings import AttemptsSettings
from shared.topology import WorkQueue

if TYPE_CHECKING:
    from shared.attempts.store import AttemptsStore

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE = WorkQueue("health.attempts", (AttemptsRecordedV1.key(),), service="health")
ACCEPTS: tuple[type[Contract], ...] = (AttemptsRecordedV1,)


def rows_of(batch: AttemptsRecordedV1, redactor: Redactor) -> list[Attempt]:
    """The rows a batch stands for, every text through the one redaction function again: a
    reporter's redactor may know fewer secrets than health's, and some texts come from outside
    (a dropped message's id, what a partner answered)."""

    def clean(text: str | None) -> str | None:
        return (redactor.clean(text) or None) if text else None

    return [
        Attempt(
            event_id=redactor.clean(r.event_id),
            event_type=redactor.clean(r.event_type),
            kind=r.kind,
            target=redactor.clean(r.target),
            attempt=r.attempt,
            at=r.at,
            outcome=redactor.clean(r.outcome),
            duration_ms=r.duration_ms,
            status_code=r.status_code,
            error_class=clean(r.error_class),
            excerpt=clean(r.excerpt),
            rung=clean(r.rung),
            request=clean(r.request),
        )
        for r in batch.records
    ]


class Recorder(Protocol):
    """Writes rows in one transaction (a LogStore, or a store opened already)."""

    async def record(self, rows: Sequence[Attempt]) -> None:
        """Commit the rows, or raise."""
        ...


class LogStore:
    """The attempts store, opened (and its database stack imported) at its first use: a
    database that is down when health starts delays the log, not health's own checks."""

    def __init__(self, url: str, opened: AttemptsStore | None = None) -> None:
        self._url = url
        self._store = opened  # an already open store (tests, tools)
        self._opening = asyncio.Lock()

    async def record(self, rows: Sequence[Attempt]) -> None:
        """Write rows in one transaction."""
        await self._use(lambda store: store.record(rows))

    async def story(self, event_id: str) -> list[Attempt]:
        """Every attempt at one event, in time order."""
        return await self._use(lambda store: store.story(event_id))

    async def last_successes(self) -> dict[str, datetime]:
        """Each target's newest successful attempt."""
        return await self._use(lambda store: store.last_successes())

    async def prune(self, settings: AttemptsSettings) -> int:
        """Enforce the retention; how many rows went."""
        max_age = timedelta(days=settings.max_age_days)
        return await self._use(
            lambda store: store.prune(max_age=max_age, max_rows=settings.max_rows, now=utc_now())
        )

    async def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            await self._store.close()

    async def _use(self, work: Callable[[AttemptsStore], Awaitable[T]]) -> T:
        # Imported here: SQLAlchemy and Alembic are for health's log alone, and every service
        # process imports this module (services.yard names them all).
        from shared.attempts.store import DB_ERRORS, AttemptsStore  # noqa: PLC0415

        try:
            async with self._opening:
                if self._store is None:
                    self._store = await AttemptsStore.open(self._url)
            return await work(self._store)
        except DB_ERRORS as error:
            raise LogUnavailableError(type(error).__name__) from error


def record_attempts(store: Recorder, redactor: Redactor) -> Handler:
    """Write a batch's rows in one transaction; a store that fails is a TransientError (the
    ladder)."""

    async def record(incoming: Incoming[AttemptsRecordedV1]) -> None:
        try:
            await store.record(rows_of(incoming.data, redactor))
        except LogUnavailableError as error:
            raise TransientError(f"the attempts log cannot write: {error.cause}") from error

    return record


async def prune_forever(log_store: LogStore, settings: AttemptsSettings) -> None:
    """Enforce the retention by age and by size, every `prune_interval_seconds`."""
    while True:
        try:
            await log_store.prune(settings)
        except LogUnavailableError as error:  # tried again at the next round
            log.warning("attempts log: retention round failed (%s)", error.cause)
        await asyncio.sleep(settings.prune_interval_seconds)
