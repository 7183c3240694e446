"""Tests that need an outside tool (promtool, prometheus, the AsyncAPI parser, chromium)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_VARIABLE = "EVENTYARD_REQUIRE_TOOLS"


def needs_tool(present: bool, reason: str) -> pytest.MarkDecorator:
    """Skip without the tool on a laptop; fail without it where EVENTYARD_REQUIRE_TOOLS=1 (CI)."""
    if not present and os.environ.get(REQUIRE_VARIABLE) == "1":
        # A skip would let CI pass without ever running the check.
        return pytest.mark.usefixtures("_missing_required_tool")
    return pytest.mark.skipif(not present, reason=reason)


def fail_missing_tool() -> NoReturn:
    """Fail for a tool CI must have; also for a module-scoped fixture that would otherwise be
    set up (and fail less clearly) before `_missing_required_tool`."""
    pytest.fail(f"a tool this test needs is missing and {REQUIRE_VARIABLE}=1 (run `make tools`)")


@pytest.fixture
def _missing_required_tool() -> None:
    """Fails the test that asked for a tool CI must have."""
    fail_missing_tool()
