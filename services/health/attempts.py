"""The attempts log's writer: a consumer of the outcome events, never in their hot path.

A row per delivery attempt (`delivery.succeeded.v1`, `delivery.failed.v1`) and per send
(`email.sent.v1`, `email.failed.v1`). A store that is down makes this queue wait on the ladder;
nothing else notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from contracts.base import Contract
from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.emails import EmailFailedV1, EmailRequestedV1, EmailSentV1
from contracts.envelope import utc_now
from shared.attempts.model import Attempt, LogUnavailableError
from shared.attempts.writer import GroupWriter, Recorder
from shared.consumer import Handler, Incoming
from shared.errors import TransientError
from shared.redact import Redactor
from shared.settings import AttemptsSettings
from shared.topology import WorkQueue

if TYPE_CHECKING:
    from shared.attempts.store import AttemptsStore

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE = WorkQueue(
    "health.attempts",
    tuple(c.key() for c in (DeliverySucceededV1, DeliveryFailedV1, EmailSentV1, EmailFailedV1)),
    service="health",
)
ACCEPTS: tuple[type[Contract], ...] = (
    DeliverySucceededV1,
    DeliveryFailedV1,
    EmailSentV1,
    EmailFailedV1,
)


def attempt_of(data: Contract, redactor: Redactor) -> Attempt:
    """The row an outcome event stands for (its texts redacted)."""
    if isinstance(data, DeliverySucceededV1):
        return Attempt(
            event_id=data.event_id,
            event_type=data.event_type,
            kind="delivery",
            target=data.destination,
            attempt=data.attempt,
            at=data.delivered_at,
            outcome="succeeded",
            duration_ms=data.duration_ms,
            status_code=data.status_code,
            excerpt=redactor.clean(data.response_excerpt) or None,
        )
    if isinstance(data, DeliveryFailedV1):
        return Attempt(
            event_id=data.event_id,
            event_type=data.event_type,
            kind="delivery",
            target=data.destination,
            attempt=data.attempt,
            at=data.failed_at,
            outcome="parked" if data.final else "failed",
            duration_ms=data.duration_ms,
            status_code=data.status_code,
            error_class=_error_class(data.error),
            excerpt=redactor.clean(data.response_excerpt or data.error) or None,
        )
    if isinstance(data, EmailSentV1):
        return Attempt(
            event_id=data.request_id,
            event_type=EmailRequestedV1.TYPE,
            kind="email",
            target=data.provider,
            attempt=1,  # the send that was taken; failed tries before it have rows of their own
            at=data.sent_at,
            outcome="succeeded",
            excerpt=data.provider_message_id,
        )
    if isinstance(data, EmailFailedV1):
        return Attempt(
            event_id=data.request_id,
            event_type=EmailRequestedV1.TYPE,
            kind="email",
            target=data.provider,
            attempt=data.attempts,
            at=data.failed_at,
            outcome="parked",
            excerpt=redactor.clean(data.reason),
        )
    raise TypeError(f"no attempt row for {type(data).__name__}")


def _error_class(error: str) -> str | None:
    """`HttpTransientError: partner returned 503` -> `HttpTransientError`."""
    name = error.split(":", 1)[0].strip()
    return name if name.isidentifier() else None


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
    """Write the outcome's row (committed with the rows of the messages handled beside it);
    a store that fails is a TransientError (the ladder)."""
    writer = GroupWriter(store)

    async def record(incoming: Incoming[Contract]) -> None:
        try:
            await writer.write(attempt_of(incoming.data, redactor))
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
