"""Remembers webhook deliveries for a window, so a repeated delivery is not published twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cachetools import TTLCache

DAY_SECONDS = 24 * 3600


class Deduplicator:
    """Per-process memory of `source:webhook-id` -> event id; bounded in size and age.

    A delivery is remembered only once its publish was confirmed. A repeat that arrives while
    the first is still being published waits for that outcome instead of publishing again.
    """

    def __init__(self, window_seconds: float = DAY_SECONDS, max_entries: int = 100_000) -> None:
        self._done: TTLCache[str, str] = TTLCache(maxsize=max_entries, ttl=window_seconds)
        self._inflight: dict[str, asyncio.Future[str]] = {}

    async def once(self, key: str, publish: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
        """Run `publish` unless `key` was seen; returns (event id, whether it was a repeat)."""
        if (event_id := self._done.get(key)) is not None:
            return event_id, True
        pending = self._inflight.get(key)
        if pending is not None:
            await asyncio.wait({pending})
            if not pending.cancelled() and pending.exception() is None:
                return pending.result(), True
            # The first attempt failed; this one tries on its own.
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            event_id = await publish()
        except Exception as error:
            future.set_exception(error)
            future.exception()  # mark it retrieved: nobody else may be waiting for it
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(event_id)
        self._done[key] = event_id
        return event_id, False
