"""A console form acts once: its CSRF token is spent by the action, and the memory of spent
tokens is bounded (expired ones go first, then the oldest)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import HTMLResponse

from services.health import console_actions
from services.health.console_actions import GroupActions
from shared.settings import ConsoleSettings
from shared.topology import Topology


async def nowhere() -> Any:
    raise OSError("no broker in this test")


def render(*_: Any, **__: Any) -> HTMLResponse:
    return HTMLResponse("")


def actions() -> GroupActions:
    settings = ConsoleSettings(token="console-token-for-tests-0123")
    return GroupActions(settings, Topology((), (5.0,), 10), nowhere, render, 1.0)


def test_a_token_is_spent_once() -> None:
    forms = actions()
    assert forms._spend("a")
    assert not forms._spend("a")
    assert forms._spend("b")


def test_the_memory_of_spent_tokens_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_actions, "MAX_SPENT", 3)
    forms = actions()
    for token in ("a", "b", "c", "d"):
        assert forms._spend(token)
    assert len(forms._spent) == 3
    assert "a" not in forms._spent  # the oldest went; the newest are remembered
    assert not forms._spend("d")
