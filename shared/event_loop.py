"""The event loop and HTTP parser every eventyard process runs on: uvloop and httptools."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

SPEEDUPS_VARIABLE = "EVENTYARD_SPEEDUPS"  # "on" (default) or "off": the stdlib loop and h11


def speedups() -> bool:
    """Whether to use uvloop and httptools where they are installed (EVENTYARD_SPEEDUPS=off: no)."""
    # They cut the per-message cost of aio-pika's frame handling and uvicorn's parsing (bench/
    # measures both ways); the pure-Python path stays one switch away, e.g. to rule them out.
    return os.environ.get(SPEEDUPS_VARIABLE, "on").strip().lower() not in {"off", "0", "false"}


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop, or None (asyncio's own) when speedups are off or uvloop is absent."""
    if not speedups():
        return None
    try:
        import uvloop  # noqa: PLC0415 - optional: absent on platforms it does not build for
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def http_parser() -> Literal["auto", "h11"]:
    """uvicorn's HTTP implementation: httptools where installed ("auto"), or h11."""
    return "auto" if speedups() else "h11"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
