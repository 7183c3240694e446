"""A per-endpoint circuit breaker over a rolling window of recent outcomes."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half-open"]
# What `admit` grants: an ordinary call, or the single half-open probe.
Admission = Literal["call", "probe"]

STATE_VALUES: dict[BreakerState, int] = {"closed": 0, "half-open": 1, "open": 2}


class CircuitBreaker:
    """Opens when too many recent calls failed; lets one probe through after a pause."""

    def __init__(
        self,
        *,
        failure_rate: float,
        window: int,
        min_calls: int,
        open_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._failure_rate = failure_rate
        self._min_calls = min_calls
        self._open_seconds = open_seconds
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """Closed, open, or half-open once the open period has passed."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._open_seconds:
            return "half-open"
        return "open"

    def admit(self) -> Admission | None:
        """Whether a call may go out now (None: fail fast); in half-open only one probe may."""
        state = self.state
        if state == "closed":
            return "call"
        if state == "open" or self._probing:
            return None
        self._probing = True
        return "probe"

    def record(self, admission: Admission, *, failed: bool) -> None:
        """Count the outcome of a call that `admit` let through."""
        if self._opened_at is not None:
            # Only the probe decides, and its verdict is final: close afresh or open again.
            # Late outcomes of calls admitted before the breaker opened say nothing new.
            if admission != "probe":
                return
            self._probing = False
            if failed:
                self._opened_at = self._clock()
            else:
                self._opened_at = None
                self._outcomes.clear()
            return
        self._outcomes.append(failed)
        if len(self._outcomes) >= self._min_calls:
            failures = sum(self._outcomes)
            if failures / len(self._outcomes) >= self._failure_rate:
                self._opened_at = self._clock()
                self._outcomes.clear()

    def release(self, admission: Admission) -> None:
        """The call ended without a verdict on the endpoint (refused, cancelled)."""
        if admission == "probe":
            self._probing = False
