"""Read a request body up to its limit, within what all requests together may hold."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(Exception):
    """The body is over the source's limit."""


class BudgetExhaustedError(Exception):
    """The bodies held across all requests would pass the budget: try again shortly."""


class BodyBudget:
    """The bytes of request bodies held at once across every request of the process.

    Each request's limit bounds one body; this bounds all of them together, so a flood of
    large bodies (signed or not: they are read before they are verified) cannot take the
    process's memory. Bytes are taken as they arrive and given back when the request is done.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def hold(self) -> Hold:
        """A hold for one request's body: `with budget.hold() as hold:` gives it back at the end."""
        return Hold(self)


class Hold:
    """What one request has taken of the budget (a plain context manager: one per request)."""

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self.taken = 0

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *_: object) -> None:
        self._budget.held -= self.taken
        self.taken = 0

    def take(self, size: int) -> None:
        """Take `size` more bytes; BudgetExhaustedError when the budget has not got them."""
        if self._budget.held + size > self._budget.limit:
            raise BudgetExhaustedError
        self._budget.held += size
        self.taken += size


async def read_limited(request: Request, limit: int, hold: Hold) -> bytes:
    """The whole body, or BodyTooLargeError as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        hold.take(len(chunk))
        chunks.append(chunk)
    return b"".join(chunks)
