"""The cause of a failure, as an operator groups them: the queue, the reason, the error's class,
its HTTP status, and its first line with ids and numbers folded, under a short stable id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_PATTERN_CHARS = 200
# Checked in this order: an id is folded before the numbers inside it could be.
_FOLDS = (
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<id>"),
    # A token with a digit in it that is not a plain number: ord_7Hq2LmX9, crm-13, pi_3Kd81Lq.
    (re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z_])[\w-]+\b"), "<id>"),
    (re.compile(r"\b[0-9a-fA-F]{16,}\b"), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)
# `returned 503`, `HTTP 422`, `status 500`: the status an HTTP failure was answered with.
_STATUS = re.compile(r"\b(?:returned|HTTP|status)\s+([1-5][0-9]{2})\b")


@dataclass(frozen=True, slots=True)
class Cause:
    """What a group of failures has in common."""

    queue: str
    reason: str
    error_type: str
    status: int | None
    pattern: str  # the error's first line, ids and numbers folded

    @property
    def id(self) -> str:
        """A short id, the same for the same cause in every run and on every machine."""
        key = "\x1f".join(
            (self.queue, self.reason, self.error_type, str(self.status), self.pattern)
        )
        return hashlib.blake2b(key.encode(), digest_size=5).hexdigest()


def cause_of(queue: str, reason: str, error_type: str, error: str) -> Cause:
    """The cause of one failure, from what its parked message's headers say."""
    line = error.strip().splitlines()[0] if error.strip() else ""
    line = line.removeprefix(f"{error_type}: ")  # the text repeats the class; it is kept apart
    found = _STATUS.search(line)
    return Cause(queue, reason, error_type, int(found[1]) if found else None, fold(line))


def fold(text: str) -> str:
    """`order ord_7Hq2 failed after 3 tries` -> `order <id> failed after <n> tries`."""
    for pattern, replacement in _FOLDS:
        text = pattern.sub(replacement, text)
    return text[:MAX_PATTERN_CHARS]
