"""What the attempts log holds, and its one error, without the database stack (imported only
where a store is opened: every service process imports the health service's modules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.errors import TransientError


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt at one message: who, where, when, how long, and how it ended."""

    event_id: str
    event_type: str
    kind: str
    target: str
    attempt: int
    at: datetime
    outcome: str
    duration_ms: float | None = None
    status_code: int | None = None
    error_class: str | None = None
    excerpt: str | None = None
    rung: str | None = None  # the ladder step a failed attempt's retry waits on
    request: str | None = None  # an excerpt of what it handled (its message's data), redacted


class LogUnavailableError(TransientError):
    """The attempts log's database could not be used; `cause` is its error's class alone (a
    database error's text may carry its URL or the row's values)."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"the attempts log is unavailable: {cause}")
        self.cause = cause
