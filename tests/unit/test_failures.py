"""Retry decisions: which ladder step, when to park, and the attempt count."""

from __future__ import annotations

import pytest

from shared import headers as h
from shared.errors import ContractError, PermanentError, Reason, TransientError
from shared.failures import Park, Retry, attempts_so_far, decide
from shared.topology import Topology, ladder_name

LADDER = Topology((), (5.0, 30.0, 120.0, 3600.0), delivery_limit=5)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (1, Retry("retry.5s", 1)),
        (2, Retry("retry.30s", 2)),
        (4, Retry("retry.1h", 4)),
        (5, Park(Reason.EXHAUSTED, 5)),
    ],
)
def test_transient_errors_climb_then_park(attempt: int, expected: Retry | Park) -> None:
    assert decide(TransientError("503"), attempt, LADDER) == expected


def test_unexpected_exceptions_are_retried_like_transient_ones() -> None:
    assert decide(KeyError("bug"), 1, LADDER) == Retry("retry.5s", 1)


def test_permanent_and_contract_errors_park_at_once() -> None:
    assert decide(PermanentError("550"), 1, LADDER) == Park(Reason.PERMANENT, 1)
    assert decide(ContractError("bad"), 1, LADDER) == Park(Reason.CONTRACT, 1)


def test_retry_after_skips_to_a_step_at_least_that_long() -> None:
    assert decide(TransientError("429", retry_after=60), 1, LADDER) == Retry("retry.2m", 1)
    assert decide(TransientError("429", retry_after=1e9), 1, LADDER) == Retry("retry.1h", 1)
    assert decide(TransientError("429", retry_after=1), 3, LADDER) == Retry("retry.2m", 3)


def test_attempts_never_fall_below_the_brokers_own_count() -> None:
    death = [
        {"queue": "retry.5s", "reason": "expired", "count": 3},
        {"queue": "work", "reason": "rejected", "count": 7},
    ]
    assert attempts_so_far({}) == 0
    assert attempts_so_far({h.ATTEMPTS: 2}) == 2
    assert attempts_so_far({h.ATTEMPTS: 1, "x-death": death}) == 3
    assert (
        attempts_so_far(
            {h.ATTEMPTS: b"x", "x-death": [{"queue": b"retry.1s", "reason": b"expired"}]}
        )
        == 1
    )


@pytest.mark.parametrize(
    ("seconds", "name"),
    [
        (0.2, "retry.200ms"),
        (1, "retry.1s"),
        (1.5, "retry.1500ms"),
        (90, "retry.90s"),
        (120, "retry.2m"),
        (36000, "retry.10h"),
    ],
)
def test_ladder_names_carry_the_delay(seconds: float, name: str) -> None:
    assert ladder_name(seconds) == name
