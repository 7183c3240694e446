"""eventyard notices when another installation shadows one of its four packages."""

from __future__ import annotations

import sys
import types

import pytest

from cli.main import installation_problem


def test_a_checkout_is_one_installation() -> None:
    assert installation_problem() is None


def test_a_package_from_elsewhere_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given another distribution's `shared`, first on the path
    stranger = types.ModuleType("shared")
    stranger.__file__ = "/opt/other-app/site-packages/shared/__init__.py"
    monkeypatch.setitem(sys.modules, "shared", stranger)
    # Then eventyard refuses to run half of someone else's code, and says whose
    problem = installation_problem()
    assert problem is not None
    assert "shared from /opt/other-app/site-packages" in problem
    assert "\n" not in problem
