"""The delivery-id window intake dedupes with: TTLCache's semantics (expiry, LRU at capacity)."""

from __future__ import annotations

import random

from cachetools import TTLCache

from services.intake.dedupe import Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_expires_after_the_ttl() -> None:
    clock = Clock()
    window = Window(10, ttl=5, timer=clock)
    window["a"] = "1"
    clock.now += 4.9
    assert window.get("a") == "1"
    clock.now += 0.1
    assert window.get("a") is None


def test_at_capacity_the_least_recently_used_goes_first() -> None:
    window = Window(2, ttl=100, timer=Clock())
    window["a"] = "1"
    window["b"] = "2"
    assert window.get("a") == "1"  # a is now more recently used than b
    window["c"] = "3"
    assert (window.get("a"), window.get("b"), window.get("c")) == ("1", None, "3")
    assert len(window) == 2


def test_it_behaves_like_cachetools_ttlcache() -> None:
    clock = Clock()
    ours = Window(50, ttl=30, timer=clock)
    theirs: TTLCache[str, str] = TTLCache(maxsize=50, ttl=30, timer=clock)
    rng = random.Random(7)
    for step in range(5000):
        clock.now += rng.choice((0.0, 0.1, 0.5, 2.0))
        key = f"k{rng.randrange(120)}"
        if rng.random() < 0.5:
            assert ours.get(key) == theirs.get(key), step
        else:
            ours[key] = theirs[key] = f"v{step}"
        assert len(ours) == len(theirs), step
