"""intake's dedupe shared through Redis: one event per delivery across workers and replicas."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aio_pika
import httpx
import pytest
import redis.asyncio as redis

from services.intake.dedupe import Deduplicator
from services.intake.redis_store import PREFIX, DedupeUnavailableError, RedisStore
from shared.errors import PublishError
from shared.settings import Settings
from tests.support.cli import environment, eventyard
from tests.support.events import connected, queue_depth
from tests.support.services import free_port
from tests.support.toml import write_integrations
from tests.support.traffic import WebhookSender
from tests.support.waiting import eventually

REDIS_URL = os.environ.get("EVENTYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SHOP_SECRET = "whsec_" + base64.b64encode(b"shared-dedupe-shop-secret-01").decode()
WORKERS = 2
COPIES = 24


@pytest.fixture
async def keys() -> AsyncIterator[Callable[[], str]]:
    """Fresh delivery keys; every Redis key made for them is deleted afterwards."""
    made: list[str] = []

    def fresh() -> str:
        made.append(f"test-{uuid.uuid4()}")
        return made[-1]

    yield fresh
    client = redis.Redis.from_url(REDIS_URL)
    if made:
        await client.delete(*(PREFIX + key for key in made))
    await client.aclose()


def process(window: float = 60.0, claim: float = 5.0) -> Deduplicator:
    """What one intake process has: its own Deduplicator over its own Redis client."""
    store = RedisStore.from_url(REDIS_URL, window_seconds=window, claim_seconds=claim)
    return Deduplicator(store)


def publisher(
    calls: list[str], event_id: str, seconds: float = 0.2
) -> Callable[[], Awaitable[str]]:
    async def publish() -> str:
        calls.append(event_id)
        await asyncio.sleep(seconds)  # a confirm round trip, long enough to overlap
        return event_id

    return publish


async def test_two_processes_publish_a_delivery_repeated_at_both_once(
    keys: Callable[[], str],
) -> None:
    key, calls = keys(), list[str]()
    first, second = process(), process()
    try:
        answers = await asyncio.gather(
            first.once(key, publisher(calls, "evt-1")),
            second.once(key, publisher(calls, "evt-2")),
        )
        later = await second.once(key, publisher(calls, "evt-3"))
    finally:
        await first.store.aclose()
        await second.store.aclose()
    assert len(calls) == 1
    assert {event_id for event_id, _ in answers} == {calls[0]}
    assert sorted(repeat for _, repeat in answers) == [False, True]
    assert later == (calls[0], True)


async def test_a_failed_publish_lets_the_next_attempt_publish(keys: Callable[[], str]) -> None:
    key, calls = keys(), list[str]()
    first, second = process(), process()

    async def broker_down() -> str:
        raise PublishError("no confirm")

    try:
        with pytest.raises(PublishError):
            await first.once(key, broker_down)
        answer = await second.once(key, publisher(calls, "evt-1", 0))
    finally:
        await first.store.aclose()
        await second.store.aclose()
    assert answer == ("evt-1", False)


async def test_a_claim_left_by_a_process_that_died_expires(keys: Callable[[], str]) -> None:
    key, calls = keys(), list[str]()
    dead = RedisStore.from_url(REDIS_URL, window_seconds=60, claim_seconds=0.5)
    await dead.claim(key)  # and never remembers nor releases it
    survivor = process(claim=0.5)
    try:
        answer = await survivor.once(key, publisher(calls, "evt-1", 0))
    finally:
        await dead.aclose()
        await survivor.store.aclose()
    assert answer == ("evt-1", False)


async def test_a_delivery_is_published_again_after_the_window(keys: Callable[[], str]) -> None:
    key, calls = keys(), list[str]()
    short = process(window=0.3)
    try:
        await short.once(key, publisher(calls, "evt-1", 0))
        await asyncio.sleep(0.5)
        answer = await short.once(key, publisher(calls, "evt-2", 0))
    finally:
        await short.store.aclose()
    assert answer == ("evt-2", False)


async def test_an_unreachable_store_refuses_the_delivery_instead_of_risking_a_repeat() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", window_seconds=60,
                                claim_seconds=1)  # fmt: skip
    calls = list[str]()
    try:
        with pytest.raises(DedupeUnavailableError, match="dedupe store"):
            await Deduplicator(store).once("k", publisher(calls, "evt-1", 0))
    finally:
        await store.aclose()
    assert calls == []
    assert issubclass(DedupeUnavailableError, PublishError)  # so intake answers 503


@pytest.fixture
def shop(settings: Settings) -> Settings:
    """An integrations file with one Standard Webhooks source mapped to order.created.v1."""
    write_integrations(
        settings.config,
        {
            "sources": {
                "shop": {
                    "scheme": "standard-webhooks",
                    "secrets": ["SHOP_SECRET"],
                    "map": {"order.paid": "order.created.v1"},
                }
            }
        },
    )
    return settings


def test_workers_without_a_shared_store_are_refused_in_one_line(shop: Settings) -> None:
    done = eventyard(shop, "run", "intake", "--workers", "2", "--port", str(free_port()))
    assert done.returncode == 2
    assert "EVENTYARD_DEDUPE__URL" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_same_webhook_at_two_workers_on_one_port_is_published_once(
    shop: Settings, keys: Callable[[], str], tmp_path: Path
) -> None:
    port, source_key = free_port(), keys()
    env = environment(shop, SHOP_SECRET=SHOP_SECRET, EVENTYARD_DEDUPE__URL=REDIS_URL)
    runner = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "intake", "--workers", str(WORKERS),
         "--port", str(port)],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with connected(shop.broker_url.get_secret_value()) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            events = await channel.declare_exchange("events", aio_pika.ExchangeType.TOPIC,
                                                    durable=True)  # fmt: skip
            await queue.bind(events, "order.created.v1")
            async with httpx.AsyncClient(timeout=5) as probe:

                async def ready() -> bool:
                    try:
                        return (await probe.get(f"{url}/readyz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await eventually(ready, timeout=60, every=0.2)
            workers = Path(f"/proc/{runner.pid}/task/{runner.pid}/children").read_text().split()
            assert len(workers) == WORKERS
            sender = WebhookSender(url, SHOP_SECRET)
            statuses = Counter[int]()

            async def one() -> None:
                # A connection each: the kernel spreads new connections across the workers.
                async with httpx.AsyncClient(
                    timeout=10, limits=httpx.Limits(max_connections=1)
                ) as c:
                    statuses[await sender.send(c, source_key)] += 1

            await asyncio.gather(*(one() for _ in range(COPIES)))
            await eventually(lambda: queue_depth(connection, queue.name), timeout=10)
            await asyncio.sleep(0.5)
            published = await queue_depth(connection, queue.name)
    finally:
        runner.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(runner.wait, 45)
    assert statuses == {202: 1, 200: COPIES - 1}
    assert published == 1
    assert len(set(sender.accepted.values())) == 1
    assert code == 0
