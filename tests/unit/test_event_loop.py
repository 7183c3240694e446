"""Which event loop and HTTP parser a process runs on."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from shared import event_loop


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_speedups_off_runs_on_the_stdlib_loop_and_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.SPEEDUPS_VARIABLE, "off")
    assert event_loop.loop_factory() is None
    assert event_loop.http_parser() == "h11"
    assert event_loop.run(_loop_type()).__module__.startswith("asyncio")


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="no speedups extra")
def test_speedups_on_runs_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.SPEEDUPS_VARIABLE, raising=False)
    assert event_loop.http_parser() == "auto"
    assert event_loop.run(_loop_type()).__module__.startswith("uvloop")
