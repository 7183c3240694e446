"""One metric count per outbound attempt, and an audit line: every failed attempt at INFO,
successful ones at DEBUG.

A successful attempt is already counted here and, for a delivery, reported as an outcome event;
its line cost ~0.1 ms (a fifth of a delivery's CPU at full rate), so it is written only when
`eventyard.audit` is set to DEBUG (EVENTYARD_LOG_LEVEL=debug)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.errors import PermanentError, TransientError
from shared.gateway.errors import CircuitOpenError, RefusedDestinationError
from shared.gateway.metrics import GatewayMetrics

AUDIT = logging.getLogger("eventyard.audit")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt was: which call, which try and credential, and how it ended."""

    endpoint: str
    method: str
    path: str
    attempt: int
    credential: int | None
    status: int | None
    outcome: str
    seconds: float | None


def outcome_of(error: BaseException | None) -> str:
    """The bounded outcome label for an attempt that ended with `error` (None: success)."""
    if error is None:
        return "success"
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, RefusedDestinationError):
        return "refused"
    if isinstance(error, TransientError):
        return "transient"
    if isinstance(error, PermanentError):
        return "permanent"
    return "error"


def record(metrics: GatewayMetrics, attempt: Attempt) -> None:
    """Log the audit line and count the attempt."""
    metrics.attempt(
        attempt.endpoint, attempt.method, attempt.status, attempt.outcome, attempt.seconds
    )
    level = logging.DEBUG if attempt.outcome == "success" else logging.INFO
    if not AUDIT.isEnabledFor(level):
        return
    duration_ms = None if attempt.seconds is None else round(attempt.seconds * 1000, 1)
    AUDIT.log(
        level,
        "%s %s %s -> %s (%s)",
        attempt.endpoint,
        attempt.method,
        attempt.path or "/",
        attempt.status if attempt.status is not None else "no answer",
        attempt.outcome,
        extra={
            "integration": attempt.endpoint,
            "method": attempt.method,
            "path": attempt.path,
            "status": attempt.status,
            "outcome": attempt.outcome,
            "duration_ms": duration_ms,
            "attempt": attempt.attempt,
            # Not "credential": log lines mask fields named like one, and this is only its index.
            "rotation_index": attempt.credential,
        },
    )
