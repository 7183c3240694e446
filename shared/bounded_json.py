"""JSON parsed only when its nesting is bounded: no door turns a deep body into a recursion."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

import orjson

MAX_DEPTH = 64

# A JSON string with its escapes: brackets inside strings are text, not nesting.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class JsonTooDeepError(ValueError):
    """The document nests arrays and objects deeper than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def depth(body: bytes) -> int:
    """How deep arrays and objects nest in `body` (an upper bound when it is not valid JSON)."""
    # Counting brackets in C first: a body with fewer openers than the limit cannot be deeper.
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise JsonTooDeepError when `body` nests deeper than `limit`."""
    if body.count(b"[") + body.count(b"{") > limit and depth(body) > limit:
        raise JsonTooDeepError(limit)


def loads(body: bytes | str, limit: int = MAX_DEPTH) -> Any:
    """`orjson.loads` after the depth check; ValueError (JSONDecodeError or JsonTooDeepError)."""
    raw = body.encode() if isinstance(body, str) else body
    check_depth(raw, limit)
    return orjson.loads(raw)
