"""The attempts log's store on both of its databases: an embedded SQLite file and a real
PostgreSQL (a throwaway database of this test's own), one schema from the migrations."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from shared.attempts.store import Attempt, AttemptsStore, driver_url
from shared.errors import ConfigError

POSTGRES = os.environ.get(
    "EVENTYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AttemptsStore]:
    if request.param == "sqlite":
        opened = await AttemptsStore.open(f"sqlite:///{tmp_path}/attempts.db")
        yield opened
        await opened.close()
        return
    name = f"eventyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        opened = await AttemptsStore.open(f"{POSTGRES.rsplit('/', 1)[0]}/{name}")
        yield opened
        await opened.close()
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def attempt(n: int, *, event: str = "evt-1", target: str = "partner", **changes: object) -> Attempt:
    values: dict[str, object] = {
        "event_id": event, "event_type": "order.created", "kind": "delivery", "target": target,
        "attempt": n, "at": T0 + timedelta(seconds=n), "outcome": "failed", "duration_ms": 12.5,
        "status_code": 503, "error_class": "HttpTransientError", "excerpt": '{"error":"down"}',
    }  # fmt: skip
    values.update(changes)
    return Attempt(**values)  # type: ignore[arg-type]


async def test_the_story_of_one_message_is_every_attempt_in_time_order(
    store: AttemptsStore,
) -> None:
    last = attempt(3, outcome="succeeded", status_code=200, error_class=None, excerpt="ok")
    await store.record([attempt(2), last, attempt(1)])
    await store.record([attempt(1, event="evt-2")])
    story = await store.story("evt-1")
    assert [a.attempt for a in story] == [1, 2, 3]
    assert story[-1] == last  # every field back as written, the time with its offset
    assert story[0].at.tzinfo is not None
    assert await store.story("evt-nope") == []


async def test_search_by_target_time_and_outcome_newest_first(store: AttemptsStore) -> None:
    await store.record([attempt(n, event=f"e{n}", target="crm" if n % 2 else "partner")
                        for n in range(1, 7)])  # fmt: skip
    await store.record([attempt(9, event="e9", outcome="succeeded")])
    found = await store.search(target="partner", outcome="failed", since=T0 + timedelta(seconds=3))
    assert [a.event_id for a in found] == ["e6", "e4"]
    assert [a.event_id for a in await store.search(limit=2)] == ["e9", "e6"]


async def test_retention_by_age_then_by_size(store: AttemptsStore) -> None:
    await store.record([attempt(n, event=f"e{n}") for n in range(1, 11)])
    now = T0 + timedelta(seconds=10)
    deleted = await store.prune(max_age=timedelta(seconds=7), max_rows=1000, now=now)
    assert deleted == 2  # e1 and e2 are older than 7 s
    assert await store.prune(max_age=timedelta(days=1), max_rows=5, now=now) == 3
    assert sorted(a.event_id for a in await store.search()) == ["e10", "e6", "e7", "e8", "e9"]
    assert await store.count() == 5


async def test_hostile_lengths_are_cut_to_the_columns(store: AttemptsStore) -> None:
    await store.record([attempt(1, event="x" * 500, target="t" * 500, excerpt="y" * 10_000)])
    [row] = await store.search()
    assert (len(row.event_id), len(row.target), len(row.excerpt or "")) == (100, 200, 500)


async def test_opening_twice_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/attempts.db"
    first = await AttemptsStore.open(url)
    await first.record([attempt(1)])
    await first.close()
    again = await AttemptsStore.open(url)
    assert await again.count() == 1
    await again.close()


async def test_a_log_at_the_first_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    # Given a log written by a release whose schema stopped at the first migration
    path = tmp_path / "attempts.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(files("shared.attempts") / "migrations"))
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO attempts (event_id, event_type, kind, target, attempt, at, outcome) "
                "VALUES ('old-1', 'order.created', 'delivery', 'partner', 1, :at, 'succeeded')"
            ),
            {"at": T0.replace(tzinfo=None)},
        )
    engine.dispose()
    # When this release opens it
    store = await AttemptsStore.open(f"sqlite:///{path}")
    await store.record([attempt(2, event="old-1", rung="retry.5s", request='"data":{}')])
    old, new = await store.story("old-1")
    await store.close()
    # Then the old row is there without the columns added since, and new rows carry them
    assert (old.outcome, old.rung, old.request) == ("succeeded", None, None)
    assert (new.rung, new.request) == ("retry.5s", '"data":{}')


def test_only_sqlite_and_postgresql_urls_are_taken() -> None:
    assert driver_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert driver_url("sqlite:///a.db") == "sqlite+aiosqlite:///a.db"
    with pytest.raises(ConfigError, match=r"sqlite:///PATH or postgresql://"):
        driver_url("mysql://u@h/db")


async def test_two_processes_opening_one_new_file_at_once_both_get_the_schema(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/attempts.db"
    stores = await asyncio.gather(*(AttemptsStore.open(url) for _ in range(4)))
    await stores[0].record([attempt(1)])
    assert [await s.count() for s in stores] == [1, 1, 1, 1]
    for store in stores:
        await store.close()
