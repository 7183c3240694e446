"""Progress of worker processes, shared with the bench through one small mapped file each.

Every contestant's handler calls `Progress.tick()` once per message it finished. Each process
(including each forked pool child) writes to a file of its own in the run's directory: the time
of its first and last tick (`time.monotonic()`, which is system-wide on Linux, so processes can
be compared), its count, and optionally one float per message (a latency sample). The bench reads
every file without stopping anyone. Writing is a `struct.pack_into` into shared memory: no
syscall per message, the same cost for every contestant.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct("<ddqq")  # first, last, count, capacity
SAMPLE = struct.Struct("<d")
ENV_DIR = "BENCH_PROGRESS_DIR"
ENV_SAMPLES = "BENCH_PROGRESS_SAMPLES"


class Progress:
    """The ticking side: one per process, opened lazily so that forked children get their own."""

    def __init__(self, directory: Path | str | None = None, capacity: int | None = None) -> None:
        self._dir = Path(directory) if directory is not None else None
        self._capacity = capacity
        self._pid = -1
        self._map: mmap.mmap | None = None
        self._first = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def _open(self) -> mmap.mmap:
        # Read the environment only now: a worker module may build its Progress at import.
        if self._dir is None:
            self._dir = Path(os.environ[ENV_DIR])
        if self._capacity is None:
            self._capacity = int(os.environ.get(ENV_SAMPLES, "0"))
        self._pid = os.getpid()
        self._first, self._count = 0.0, 0
        path = self._dir / f"{self._pid}.progress"
        size = HEADER.size + SAMPLE.size * self._capacity
        with path.open("wb") as out:
            out.truncate(size)
        with path.open("r+b") as out:
            self._map = mmap.mmap(out.fileno(), size)
        HEADER.pack_into(self._map, 0, 0.0, 0.0, 0, self._capacity)
        return self._map

    def tick(self, sample: float | None = None) -> None:
        """One message finished (with an optional sample, e.g. its latency in seconds)."""
        now = time.monotonic()
        with self._lock:
            shared = self._map if self._pid == os.getpid() and self._map else self._open()
            if not self._count:
                self._first = now
            if sample is not None and self._count < (self._capacity or 0):
                SAMPLE.pack_into(shared, HEADER.size + SAMPLE.size * self._count, sample)
            self._count += 1
            HEADER.pack_into(shared, 0, self._first, now, self._count, self._capacity)


@dataclass
class Totals:
    """All processes' progress added up."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0
    samples: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Messages per second between the first and the last tick of any process."""
        span = self.last - self.first
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


def read(directory: Path, *, samples: bool = False) -> Totals:
    """What every process in `directory` has reported so far."""
    totals = Totals()
    firsts, lasts = [], []
    for path in directory.glob("*.progress"):
        data = path.read_bytes()
        if len(data) < HEADER.size:
            continue
        first, last, count, capacity = HEADER.unpack_from(data, 0)
        if not count:
            continue
        totals.count += count
        firsts.append(first)
        lasts.append(last)
        if samples:
            taken = min(count, capacity)
            totals.samples.extend(
                SAMPLE.unpack_from(data, HEADER.size + SAMPLE.size * i)[0] for i in range(taken)
            )
    if firsts:
        totals.first, totals.last = min(firsts), max(lasts)
    return totals


def reset(directory: Path) -> None:
    """Forget earlier rounds (their processes have exited)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.progress"):
        path.unlink()
