"""The event loop every eventyard process runs on: uvloop where it is installed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOP_VARIABLE = "EVENTYARD_EVENT_LOOP"  # "uvloop" (default where installed) or "asyncio"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop unless `EVENTYARD_EVENT_LOOP=asyncio` or uvloop is absent (then None)."""
    # uvloop roughly halves the per-message cost of aio-pika's frame handling and of uvicorn's
    # transport (bench/ measures both loops side by side); the stdlib loop stays one switch away.
    if os.environ.get(LOOP_VARIABLE, "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415 - optional: absent on platforms it does not build for
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """Which loop `run` uses, for start-up logs and benchmarks."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
