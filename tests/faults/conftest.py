"""The fault suite's shared parts: the end-of-run report, and the cluster booted early.

The 3-node cluster takes ~20 s of both cores to boot. It boots in the background from the
first fault case on, and the `cluster` cases run last, so the boot overlaps the cases that
mostly wait (the breaker's 30 s, slow receivers, heartbeats).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pytest.terminal import TerminalReporter

from tests.faults.report import ROWS, Report
from tests.support.rabbit import BackgroundCluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the `cluster` cases after every other case (stable order otherwise)."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)


@pytest.fixture(scope="session")
def cluster_boot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundCluster]:
    """Three clustered throwaway nodes, booting in the background; all stopped at the end."""
    booting = BackgroundCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield booting
    finally:
        booting.stop()


@pytest.fixture(scope="session", autouse=True)
def _boot_the_cluster_early(request: pytest.FixtureRequest) -> None:
    """Start the cluster's boot at the first fault case if any `cluster` case will run."""
    if any(item.get_closest_marker("cluster") for item in request.session.items):
        request.getfixturevalue("cluster_boot")


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """The case's handle on the report (rows live on the pytest config)."""
    rows = request.config.stash.setdefault(ROWS, [])
    return Report(rows, request.node.name.removeprefix("test_"))


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    """Print the fault report: per case accepted, refused, delivered, duplicates, lost, stall."""
    rows = terminalreporter.config.stash.get(ROWS, [])
    if not rows:
        return
    terminalreporter.section("fault report")
    header = ("case", "accepted", "refused", "delivered", "dup", "lost", "stall s", "note")
    lines = [
        (
            r.case,
            str(r.accepted),
            str(r.refused),
            str(r.delivered),
            str(r.duplicates),
            str(r.lost),
            "-" if r.longest_stall is None else f"{r.longest_stall:.2f}",
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header) - 1)]
    for row in (header, *lines):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        terminalreporter.write_line("  ".join([*cells, row[-1]]).rstrip())
    lost = sum(r.lost for r in rows)
    terminalreporter.write_line(f"total lost: {lost}")
