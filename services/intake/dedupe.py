"""Remembers webhook deliveries for a window, so a repeated delivery is not published twice.

The window lives in this process by default (`MemoryStore`); several intake processes or
replicas share one in Redis (`services/intake/redis_store.py`, EVENTYARD_DEDUPE__URL).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

DAY_SECONDS = 24 * 3600


class Window:
    """Key -> value for `ttl` seconds after it was set, at most `maxsize` keys (least recently
    used go first): what `cachetools.TTLCache` does, without one tracked object per entry.

    TTLCache keeps a linked-list node object per key, so 100,000 remembered deliveries made
    every full garbage collection walk 100,000 more objects while webhooks waited. Here the
    entries are two ordered mappings of strings and untracked tuples: by the time they were set
    (the ttl is the same for all, so that is expiry order) and by last use.
    """

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._maxsize = maxsize
        self._ttl = ttl
        self._timer = timer
        self._by_expiry: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._by_use: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        self._expire(self._timer())
        return len(self._by_expiry)

    def get(self, key: str) -> str | None:
        """The value while it is fresh (a hit counts as a use), else None."""
        entry = self._by_expiry.get(key)
        if entry is None or not self._timer() < entry[1]:
            return None
        self._by_use.move_to_end(key)
        return entry[0]

    def __setitem__(self, key: str, value: str) -> None:
        now = self._timer()
        self._expire(now)
        if key in self._by_expiry:
            del self._by_expiry[key], self._by_use[key]
        while len(self._by_expiry) >= self._maxsize:
            oldest, _ = self._by_use.popitem(last=False)
            del self._by_expiry[oldest]
        self._by_expiry[key] = (value, now + self._ttl)
        self._by_use[key] = None

    def _expire(self, now: float) -> None:
        while self._by_expiry:
            key, (_, expires) = next(iter(self._by_expiry.items()))
            if now < expires:
                return
            del self._by_expiry[key], self._by_use[key]


class Claim:
    """A store's answer to "may this process publish the delivery?"."""

    __slots__ = ("seen", "token")

    def __init__(self, *, seen: str | None = None, token: str = "") -> None:
        self.seen = seen  # the event id it was published as, when it was
        self.token = token  # the store's mark of this claim, for remember/release


class DeliveryStore(Protocol):
    """Where deliveries are remembered: this process's memory, or a store several share."""

    async def claim(self, key: str) -> Claim:
        """The event id of a delivery already published, else a claim to publish it."""
        ...

    async def remember(self, key: str, claim: Claim, event_id: str) -> None:
        """The claimed delivery was published (confirmed) as `event_id`."""
        ...

    async def release(self, key: str, claim: Claim) -> None:
        """The claimed delivery was not published: let the next attempt claim it."""
        ...

    async def aclose(self) -> None:
        """Let go of connections."""
        ...


class MemoryStore:
    """The embedded default: a window in this process (one intake process, no other store)."""

    def __init__(self, window_seconds: float = DAY_SECONDS, max_entries: int = 100_000) -> None:
        self._done = Window(max_entries, window_seconds)

    async def claim(self, key: str) -> Claim:
        """Seen if the window holds it; otherwise a claim (in-process repeats wait upstream)."""
        return Claim(seen=self._done.get(key))

    async def remember(self, key: str, claim: Claim, event_id: str) -> None:
        """Keep it for the window."""
        self._done[key] = event_id

    async def release(self, key: str, claim: Claim) -> None:
        """Nothing was kept for a claim."""

    async def aclose(self) -> None:
        """Nothing to close."""


class Deduplicator:
    """`source:webhook-id` -> event id, for a window, in a `DeliveryStore`.

    A delivery is remembered only once its publish was confirmed. A repeat that arrives in
    this process while the first is still being published waits for that outcome instead of
    publishing again (a shared store makes repeats at other processes wait the same way).
    """

    def __init__(self, store: DeliveryStore | None = None) -> None:
        self.store = store or MemoryStore()
        self._inflight: dict[str, asyncio.Future[str]] = {}

    async def once(self, key: str, publish: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
        """Run `publish` unless `key` was seen; returns (event id, whether it was a repeat)."""
        pending = self._inflight.get(key)
        if pending is not None:
            await asyncio.wait({pending})
            if not pending.cancelled() and pending.exception() is None:
                return pending.result(), True
            # The first attempt failed; this one tries on its own.
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            event_id, repeat = await self._once(key, publish)
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
        return event_id, repeat

    async def _once(self, key: str, publish: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
        claim = await self.store.claim(key)
        if claim.seen is not None:
            return claim.seen, True
        try:
            event_id = await publish()
        except BaseException:
            await asyncio.shield(self.store.release(key, claim))
            raise
        await self.store.remember(key, claim, event_id)
        return event_id, False
