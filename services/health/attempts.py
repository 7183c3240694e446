"""The attempts log's writer: a consumer of the outcome events, never in their hot path.

A row per delivery attempt (`delivery.succeeded.v1`, `delivery.failed.v1`) and per send
(`email.sent.v1`, `email.failed.v1`). A store that is down makes this queue wait on the ladder;
nothing else notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from contracts.base import Contract
from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.emails import EmailFailedV1, EmailRequestedV1, EmailSentV1
from contracts.envelope import utc_now
from shared.attempts.store import Attempt, AttemptsStore
from shared.attempts.writer import GroupWriter, Recorder
from shared.consumer import Handler, Incoming
from shared.errors import TransientError
from shared.redact import Redactor
from shared.settings import AttemptsSettings
from shared.topology import WorkQueue

log = logging.getLogger(__name__)

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
    """The attempts store, opened at its first use: a database that is down when health starts
    delays the log (its queue waits on the ladder), not health's own checks."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._store: AttemptsStore | None = None
        self._opening = asyncio.Lock()

    async def get(self) -> AttemptsStore:
        """The open store; the database's error while it cannot be opened."""
        async with self._opening:
            if self._store is None:
                self._store = await AttemptsStore.open(self._url)
            return self._store

    async def record(self, rows: Sequence[Attempt]) -> None:
        """Write through the store, opening it first if need be."""
        await (await self.get()).record(rows)

    async def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            await self._store.close()


def record_attempts(store: Recorder, redactor: Redactor) -> Handler:
    """Write the outcome's row (committed with the rows of the messages handled beside it);
    a store that fails is a TransientError (the ladder)."""
    writer = GroupWriter(store)

    async def record(incoming: Incoming[Contract]) -> None:
        try:
            await writer.write(attempt_of(incoming.data, redactor))
        except (SQLAlchemyError, OSError) as error:
            # The class only: a database error's text may carry its URL or the row's values.
            name = type(error).__name__
            raise TransientError(f"the attempts log cannot write: {name}") from error

    return record


async def prune_forever(log_store: LogStore, settings: AttemptsSettings) -> None:
    """Enforce the retention by age and by size, every `prune_interval_seconds`."""
    while True:
        try:
            store = await log_store.get()
            await store.prune(
                max_age=timedelta(days=settings.max_age_days),
                max_rows=settings.max_rows,
                now=utc_now(),
            )
        except (SQLAlchemyError, OSError) as error:  # tried again at the next round
            log.warning("attempts log: retention round failed (%s)", type(error).__name__)
        await asyncio.sleep(settings.prune_interval_seconds)
