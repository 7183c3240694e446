"""The attempts log end to end: the health service writes the rows of each batch of attempts
(redacted, off the hot path), and `eventyard attempts` tells one message's story from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.attempts import AttemptRecord, AttemptsRecordedV1
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


def record(attempt: int, outcome: str, **fields: object) -> AttemptRecord:
    values: dict[str, object] = {
        "event_id": "evt-7", "event_type": "order.created", "kind": "delivery",
        "target": "partner", "attempt": attempt, "at": AT.replace(minute=attempt),
        "outcome": outcome, "duration_ms": 31.0, "status_code": 503,
        "error_class": "HttpTransientError", "excerpt": f'{{"echo":"{SECRET}"}}',
        "rung": "retry.1s" if outcome == "failed" else None,
        "request": f'"data":{{"token":"{SECRET}"}}' if attempt == 1 else None,
    }  # fmt: skip
    return AttemptRecord.model_validate({**values, **fields})


def batch(*records: AttemptRecord, service: str = "publisher") -> AttemptsRecordedV1:
    return AttemptsRecordedV1(service=service, records=list(records))


def failed(attempt: int, *, final: bool = False) -> AttemptsRecordedV1:
    return batch(record(attempt, "parked" if final else "failed"))


async def test_each_batch_is_written_as_redacted_rows(store: AttemptsStore) -> None:
    kit = HandlerKit(service="health")
    handler = record_attempts(store, Redactor([SECRET]))
    events = [
        batch(record(1, "failed"), record(2, "parked")),
        batch(
            record(1, "succeeded", event_id="evt-8", status_code=200, error_class=None,
                   excerpt=None),
            record(1, "succeeded", event_id="req-1", kind="email", target="console",
                   event_type="email.requested", status_code=None, error_class=None,
                   excerpt="<req-1@eventyard>"),
            service="email",
        ),
        batch(record(1, "refused", event_id="rq-3", kind="webhook", target="shop",
                     event_type="webhook.received", status_code=401,
                     error_class="bad_signature", excerpt="no signature matches"),
              service="intake"),
    ]  # fmt: skip
    for event in events:
        result = await kit.run(handler, event, queue=QUEUE.name, reported=None)
        assert result.acked
        assert result.record is None  # the log's own writes are not reported to it
    first, last = await store.story("evt-7")
    assert (first.outcome, last.outcome) == ("failed", "parked")
    assert (first.status_code, first.error_class, first.duration_ms, first.rung) == (
        503, "HttpTransientError", 31.0, "retry.1s"
    )  # fmt: skip
    assert SECRET not in (first.excerpt or "") + (first.request or "")
    assert "***" in (first.excerpt or "")
    assert (first.request or "").startswith('"data":{"token":"')
    [sent] = await store.story("req-1")
    assert (sent.kind, sent.target, sent.outcome, sent.excerpt) == (
        "email", "console", "succeeded", "<req-1@eventyard>"
    )  # fmt: skip
    [refused] = await store.story("rq-3")
    assert (refused.kind, refused.target, refused.status_code, refused.error_class) == (
        "webhook", "shop", 401, "bad_signature"
    )  # fmt: skip


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
