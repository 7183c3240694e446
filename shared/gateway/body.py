"""Reading a response body without letting an endpoint decide how much memory it takes."""

from __future__ import annotations

import httpx


async def read_capped(response: httpx.Response, limit: int) -> bool:
    """Read at most `limit` decoded bytes into the response; False if the body was longer.

    A longer body is cut at the limit and its connection closed rather than drained. Decoded
    bytes are counted, so a compressed body cannot expand past the limit either.
    """
    chunks: list[bytes] = []
    size = 0
    complete = True
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                chunks.append(chunk[: limit - (size - len(chunk))])
                complete = False
                break
            chunks.append(chunk)
    finally:
        await response.aclose()
    # httpx has no capped read of its own; `aread` fills this same attribute, and every
    # accessor (`content`, `text`, `json()`) reads it.
    response._content = b"".join(chunks)
    return complete
