"""The bench's command line parses (the benchmarks themselves are never run as tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import NAMES, config_from, parser, selected


def test_help_parses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--help"])
    assert exit_.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_only_takes_numbers_and_names() -> None:
    assert selected("") == list(NAMES)
    assert selected("1, intake,8") == [1, 3, 8]
    with pytest.raises(SystemExit):
        selected("nonsense")


def test_quick_sizes_are_smaller_and_flags_win(tmp_path: Path) -> None:
    quick = config_from(parser().parse_args(["--quick", "--rounds", "2"]), tmp_path)
    full = config_from(parser().parse_args([]), tmp_path)
    assert quick.rounds == 2
    assert quick.messages < full.messages
    assert quick.memory_messages < full.memory_messages == 30_000
