"""Count what was accepted against what the receivers got: delivered, duplicated, lost, stalls."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from tests.support.receiver import Hit, Receiver

KeyOf = Callable[[Hit], str | None]


def idempotency_key(hit: Hit) -> str | None:
    """The key a deduping receiver acts on (`Idempotency-Key`, which is the event id)."""
    return hit.idempotency_key or hit.webhook_id


@dataclass(frozen=True)
class Tally:
    """What happened to a set of accepted messages across the destinations they route to."""

    accepted: int
    routes: int
    delivered: int
    duplicates: int
    lost: int
    raw_hits: int
    longest_stall: float
    missing: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def expected(self) -> int:
        """Deliveries owed: every accepted message to every destination it routes to."""
        return self.accepted * self.routes

    def explain(self) -> str:
        """A one-line account, with a few of the missing keys, for assertion messages."""
        gaps = {name: keys[:5] for name, keys in self.missing.items() if keys}
        return (
            f"accepted {self.accepted} x {self.routes} routes, delivered {self.delivered}, "
            f"duplicates {self.duplicates}, lost {self.lost}; missing (first 5): {gaps}"
        )


def tally(
    accepted: Collection[str],
    receivers: Mapping[str, Receiver],
    key_of: KeyOf = idempotency_key,
    timed: Collection[str] | None = None,
) -> Tally:
    """Delivered = accepted keys a receiver answered 2xx for; duplicates = extra 2xx hits.

    The longest stall is measured at the receivers named in `timed` (default: all of them).
    """
    wanted = set(accepted)
    delivered = duplicates = raw = 0
    missing: dict[str, list[str]] = {}
    for name, receiver in receivers.items():
        raw += len(receiver.hits)
        succeeded = Counter(key_of(hit) for hit in receiver.succeeded)
        got = {k for k in succeeded if k in wanted}
        delivered += len(got)
        duplicates += sum(succeeded[k] - 1 for k in got)
        missing[name] = sorted(wanted - got)
    return Tally(
        accepted=len(wanted),
        routes=len(receivers),
        delivered=delivered,
        duplicates=duplicates,
        lost=len(wanted) * len(receivers) - delivered,
        raw_hits=raw,
        longest_stall=longest_stall(
            [r for n, r in receivers.items() if timed is None or n in timed]
        ),
        missing=missing,
    )


def longest_stall(receivers: Collection[Receiver]) -> float:
    """The longest gap between consecutive successful deliveries at any one receiver."""
    worst = 0.0
    for receiver in receivers:
        times = sorted(hit.at for hit in receiver.succeeded)
        worst = max([worst, *(b - a for a, b in itertools.pairwise(times))])
    return worst
