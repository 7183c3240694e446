"""The rows of the fault report, collected on the pytest config while the cases run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.ledger import Tally

ROWS = pytest.StashKey[list["Row"]]()


@dataclass(frozen=True)
class Row:
    """One case's counts.

    `accepted`: messages taken in (a 202, a confirmed publish), or the deliveries they owe;
    `refused`: requests turned away with a clear answer (so never accepted), or owed
    deliveries refused on purpose (parked as refused); never counted as delivered;
    `delivered`: deliveries made; `lost`: accepted, then neither delivered, refused nor parked.
    """

    case: str
    accepted: int
    delivered: int
    duplicates: int
    lost: int
    longest_stall: float | None
    note: str = ""
    refused: int = 0


class Report:
    """What a case adds to the end-of-run table."""

    def __init__(self, rows: list[Row], case: str) -> None:
        self._rows = rows
        self._case = case

    def add(
        self,
        *,
        accepted: int,
        delivered: int,
        duplicates: int = 0,
        lost: int = 0,
        longest_stall: float | None = None,
        note: str = "",
        case: str | None = None,
        refused: int = 0,
    ) -> None:
        """Record a row (before asserting, so a failing case is reported too)."""
        self._rows.append(
            Row(
                case or self._case,
                accepted,
                delivered,
                duplicates,
                lost,
                longest_stall,
                note,
                refused,
            )
        )

    def tally(self, counted: Tally, note: str = "", case: str | None = None) -> None:
        """Record a ledger tally: deliveries owed and made across every route."""
        self.add(
            accepted=counted.expected,
            delivered=counted.delivered,
            duplicates=counted.duplicates,
            lost=counted.lost,
            longest_stall=counted.longest_stall,
            note=note,
            case=case,
        )
