"""Read a request body up to a limit, refusing the rest without reading it."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(Exception):
    """The body is over the source's limit."""


async def read_limited(request: Request, limit: int) -> bytes:
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
        chunks.append(chunk)
    return b"".join(chunks)
