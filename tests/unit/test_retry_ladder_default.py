"""The default retry ladder outlasts a whole-day outage, as the README's Guarantees promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
DAY = 24 * 3600.0


def _guarantees() -> str:
    """The README's "Guarantees" section (up to the next `## ` heading)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Guarantees\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _promised_hours() -> float:
    """The ladder span the Guarantees section states ("the default ladder waits about N h")."""
    found = re.search(r"default ladder waits about ([\d.]+) h", _guarantees())
    assert found, "the Guarantees section no longer states the default ladder's span"
    return float(found.group(1))


@pytest.fixture
def default_delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The ladder of `Settings()` with no `EVENTYARD_RETRY__…` override in the environment."""
    monkeypatch.delenv("EVENTYARD_RETRY__DELAYS", raising=False)
    monkeypatch.delenv("EVENTYARD_RETRY", raising=False)
    return Settings().retry.delays


def test_default_ladder_outlasts_a_whole_day(default_delays: list[float]) -> None:
    assert sum(default_delays) >= DAY, sum(default_delays) / 3600


def test_default_ladder_spans_what_the_guarantees_state(default_delays: list[float]) -> None:
    hours = sum(default_delays) / 3600
    assert round(hours, 1) == _promised_hours(), hours
