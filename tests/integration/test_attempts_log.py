"""The attempts log end to end: the health service writes a row per outcome event (redacted,
off the hot path), and `eventyard attempts` tells one message's story from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.emails import EmailFailedV1, EmailSentV1
from services.health.app import DEFINITION as HEALTH
from services.health.attempts import QUEUE, LogStore, record_attempts
from shared.attempts.store import AttemptsStore
from shared.redact import Redactor
from shared.settings import AttemptsSettings, Settings
from shared.testing import HandlerKit
from shared.topology import Topology
from tests.support.cli import eventyard
from tests.support.events import connected, emitter_for
from tests.support.services import running
from tests.support.waiting import eventually

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
SECRET = "sk_live_do_not_show_me"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AttemptsStore]:
    opened = await AttemptsStore.open(f"sqlite:///{tmp_path}/log.db")
    yield opened
    await opened.close()


def failed(attempt: int, *, final: bool = False) -> DeliveryFailedV1:
    return DeliveryFailedV1(
        destination="partner", event_id="evt-7", event_type="order.created", attempt=attempt,
        status_code=503, duration_ms=31.0, error="HttpTransientError: partner returned 503",
        response_excerpt=f'{{"echo":"{SECRET}"}}', final=final, failed_at=AT,
    )  # fmt: skip


async def test_each_outcome_event_is_one_redacted_row(store: AttemptsStore) -> None:
    kit = HandlerKit(service="health")
    handler = record_attempts(store, Redactor([SECRET]))
    events = [
        failed(1),
        failed(2, final=True),
        DeliverySucceededV1(destination="partner", event_id="evt-8", event_type="order.created",
                            attempt=1, status_code=200, duration_ms=12.0, delivered_at=AT),
        EmailSentV1(request_id="req-1", to="ada@example.com", provider="console", sent_at=AT),
        EmailFailedV1(request_id="req-2", to="ada@example.com", provider="smtp",
                      reason="550 no such mailbox", attempts=3, failed_at=AT),
    ]  # fmt: skip
    for event in events:
        assert (await kit.run(handler, event, queue=QUEUE.name)).acked
    first, last = await store.story("evt-7")
    assert (first.outcome, last.outcome) == ("failed", "parked")
    assert (first.status_code, first.error_class, first.duration_ms) == (
        503, "HttpTransientError", 31.0
    )  # fmt: skip
    assert SECRET not in (first.excerpt or "")
    assert "***" in (first.excerpt or "")
    [sent] = await store.story("req-1")
    [bounced] = await store.story("req-2")
    assert (sent.kind, sent.target, sent.outcome) == ("email", "console", "succeeded")
    assert (bounced.attempt, bounced.outcome, bounced.excerpt) == (
        3,
        "parked",
        "550 no such mailbox",
    )


async def test_a_store_that_fails_sends_the_outcome_up_the_ladder_not_away(
    tmp_path: Path,
) -> None:
    # A database without the table (never migrated): every write fails
    broken = AttemptsStore(create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db"))
    result = await HandlerKit(service="health").run(
        record_attempts(LogStore("sqlite://", opened=broken), Redactor()), failed(1),
        queue=QUEUE.name,
    )  # fmt: skip
    assert result.retried
    assert result.error == "TransientError: the attempts log cannot write: OperationalError"
    await broken.close()


async def test_the_health_service_writes_the_log_and_the_cli_tells_the_story(
    settings: Settings,
) -> None:
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    async with running(HEALTH, settings, topology), connected(url) as connection:
        emitter = await emitter_for(connection, source="eventyard/publisher")
        await emitter.publish(failed(1))
        await emitter.publish(failed(2, final=True))

        log = await AttemptsStore.open(settings.attempts.url.get_secret_value())

        async def written() -> bool:
            return len(await log.story("evt-7")) == 2

        await eventually(written, timeout=15, every=0.1)
        await log.close()
    shown = await asyncio.to_thread(eventyard, settings, "attempts", "evt-7", "--json")
    rows = [orjson.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, "failed"), (2, "parked")]
    table = await asyncio.to_thread(
        eventyard, settings, "attempts", "--destination", "partner", "--since", "3650d"
    )
    assert "HttpTransientError" in table.stdout
    bad = await asyncio.to_thread(eventyard, settings, "attempts", "--since", "yesterday")
    assert bad.returncode == 2
    assert "--since 'yesterday': a number and s, m, h or d" in bad.stderr


async def test_health_starts_with_its_database_down_and_the_log_waits_on_the_ladder(
    settings: Settings,
) -> None:
    down = "postgresql://postgres@127.0.0.1:1/attempts"  # nothing listens on port 1
    result = await HandlerKit(service="health").run(
        record_attempts(LogStore(down), Redactor()), failed(1), queue=QUEUE.name
    )
    assert result.retried
    assert result.error == "TransientError: the attempts log cannot write: OperationalError"
    broken = settings.model_copy(update={"attempts": AttemptsSettings(url=down)})
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    async with running(HEALTH, broken, topology) as base:  # ready: its checks do not wait
        assert base.startswith("http://127.0.0.1:")
