"""Deliveries remembered in Redis, so every intake worker and replica dedupes as one.

A delivery's key holds `pending:<token>` while one process publishes it (`SET NX` with a claim
TTL longer than a publish may take), then `done:<event id>` for the window. A repeat elsewhere
finds `done:` and answers as a duplicate, or finds `pending:` and waits for the outcome; if the
publisher fails, it deletes its own claim (compare-and-delete) and the next attempt publishes;
if it dies, the claim expires. With Redis unreachable, deliveries are refused (503, retried by
the sender) rather than published without the guarantee.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from services.intake.dedupe import Claim
from shared.errors import PublishError

PREFIX = "eventyard:intake:delivery:"
PENDING = "pending:"
DONE = "done:"
POLL_SECONDS = 0.02
WAIT_MARGIN_SECONDS = 1.0
# Delete the key only while it still holds this process's claim.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

log = logging.getLogger(__name__)


class DedupeUnavailableError(PublishError):
    """The shared store did not answer: the delivery is not taken (503, retried by the sender)."""


class RedisStore:
    """The `DeliveryStore` every intake process shares: one Redis, keys with TTLs."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        window_seconds: float,
        claim_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._window_ms = int(window_seconds * 1000)
        self._claim_ms = int(claim_seconds * 1000)
        # A repeat waits out another process's claim, and a little more: a claim of a process
        # that died expires after claim_seconds, and then this one takes it over.
        self._wait_seconds = claim_seconds + WAIT_MARGIN_SECONDS
        self._clock = clock
        self._release = client.register_script(RELEASE)

    @classmethod
    def from_url(cls, url: str, *, window_seconds: float, claim_seconds: float) -> RedisStore:
        """A store on the Redis at `url` (redis://, rediss:// or unix://)."""
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        return cls(client, window_seconds=window_seconds, claim_seconds=claim_seconds)

    async def claim(self, key: str) -> Claim:
        """Claim the key, or the event id it was published as (waiting out another's claim)."""
        name, token = PREFIX + key, PENDING + secrets.token_hex(8)
        deadline = self._clock() + self._wait_seconds
        try:
            while True:
                if await self._redis.set(name, token, nx=True, px=self._claim_ms):
                    return Claim(token=token)
                value = _text(await self._redis.get(name))
                if value is not None and value.startswith(DONE):
                    return Claim(seen=value.removeprefix(DONE))
                if value is None:
                    continue  # released or expired in between: claim it now
                if self._clock() > deadline:
                    raise DedupeUnavailableError("another worker is still publishing it")
                await asyncio.sleep(POLL_SECONDS)
        except RedisError as error:
            raise DedupeUnavailableError(f"dedupe store: {type(error).__name__}") from error

    async def remember(self, key: str, claim: Claim, event_id: str) -> None:
        """Mark the delivery published for the window (a failure here only logs: it is stored)."""
        try:
            await self._redis.set(PREFIX + key, DONE + event_id, px=self._window_ms)
        except RedisError as error:
            # The event is confirmed, so the request succeeds; a repeat after the claim expires
            # is published again under the same event id, which consumers dedupe by.
            log.warning("dedupe store: could not remember a delivery: %s", type(error).__name__)

    async def release(self, key: str, claim: Claim) -> None:
        """Drop this process's claim so the sender's retry can publish."""
        try:
            await self._release(keys=[PREFIX + key], args=[claim.token])
        except RedisError as error:
            log.warning("dedupe store: could not release a claim: %s", type(error).__name__)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
