"""One audit line and one metric count per outbound attempt, whatever its outcome."""

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
    duration_ms = None if attempt.seconds is None else round(attempt.seconds * 1000, 1)
    AUDIT.info(
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
