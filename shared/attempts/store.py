"""Where the attempts log lives: an embedded SQLite file by default, PostgreSQL by URL; one
schema, brought up to date by its Alembic migrations when the store opens."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, delete, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.attempts.model import Attempt
from shared.attempts.schema import (
    EXCERPT_CHARS,
    ID_CHARS,
    NAME_CHARS,
    OUTCOME_CHARS,
    REQUEST_CHARS,
    attempts,
)
from shared.errors import ConfigError

__all__ = ["DB_ERRORS", "Attempt", "AttemptsStore", "driver_url"]

# What a store's database may raise: the errors the attempts log's users turn into its own.
DB_ERRORS = (SQLAlchemyError, OSError)
MIGRATION_TRIES = 5
MIGRATION_PAUSE_SECONDS = 0.2
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_BOUNDS = {
    "event_id": ID_CHARS,
    "event_type": NAME_CHARS,
    "kind": OUTCOME_CHARS,
    "target": NAME_CHARS,
    "outcome": OUTCOME_CHARS,
    "error_class": NAME_CHARS,
    "excerpt": EXCERPT_CHARS,
    "rung": NAME_CHARS,
    "request": REQUEST_CHARS,
}


def driver_url(url: str) -> str:
    """`sqlite:///x.db` or `postgresql://…` with the async driver the store uses."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0]
    if not sep or base not in _DRIVERS:
        raise ConfigError("the attempts log's URL is sqlite:///PATH or postgresql://…")
    return f"{_DRIVERS[base]}://{rest}"


class AttemptsStore:
    """Records attempts and answers the operator's questions about them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    async def open(cls, url: str) -> AttemptsStore:
        """Connect and bring the schema up to date (the migrations are idempotent)."""
        engine = create_async_engine(driver_url(url))
        if engine.dialect.name == "sqlite":
            _sqlite_transactions(engine)
        for attempt in range(1, MIGRATION_TRIES + 1):
            try:
                async with engine.connect() as plain:
                    connection = await plain.execution_options(immediate=True)
                    async with connection.begin():
                        await connection.run_sync(_upgrade)
                break
            except (OperationalError, ProgrammingError, IntegrityError):
                # Another process migrating the same new database at this moment (PostgreSQL):
                # once it has committed, the migrations find the schema at head and do nothing.
                if attempt == MIGRATION_TRIES:
                    await engine.dispose()
                    raise
                await asyncio.sleep(MIGRATION_PAUSE_SECONDS * attempt)
        return cls(engine)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def record(self, rows: Sequence[Attempt]) -> None:
        """Write attempts in one transaction, every text cut to its column's bound."""
        if not rows:
            return
        values = [_bounded(asdict(row)) for row in rows]
        async with self._engine.begin() as connection:
            await connection.execute(attempts.insert(), values)

    async def story(self, event_id: str) -> list[Attempt]:
        """Every attempt at one event, in time order."""
        query = (
            select(*_COLUMNS)
            .where(attempts.c.event_id == event_id)
            .order_by(attempts.c.at, attempts.c.id)
        )
        return await self._rows(query)

    async def search(
        self,
        *,
        target: str | None = None,
        since: datetime | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        """The newest attempts that match, newest first."""
        query = select(*_COLUMNS).order_by(attempts.c.at.desc(), attempts.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(attempts.c.target == target)
        if since is not None:
            query = query.where(attempts.c.at >= since)
        if outcome is not None:
            query = query.where(attempts.c.outcome == outcome)
        return await self._rows(query)

    async def prune(self, *, max_age: timedelta, max_rows: int, now: datetime) -> int:
        """Delete what is older than `max_age`, then the oldest beyond `max_rows`; how many."""
        async with self._engine.begin() as connection:
            aged = await connection.execute(delete(attempts).where(attempts.c.at < now - max_age))
            newest_kept = (
                select(attempts.c.id)
                .order_by(attempts.c.id.desc())
                .offset(max_rows)
                .limit(1)
                .scalar_subquery()
            )
            over = await connection.execute(delete(attempts).where(attempts.c.id <= newest_kept))
        return (aged.rowcount or 0) + (over.rowcount or 0)

    async def last_successes(self) -> dict[str, datetime]:
        """Each target's newest successful attempt."""
        newest = func.max(attempts.c.at)
        query = (
            select(attempts.c.target, newest)
            .where(attempts.c.outcome == "succeeded")
            .group_by(attempts.c.target)
        )
        async with self._engine.connect() as connection:
            result = await connection.execute(query)
            return {target: _utc(at) for target, at in result if at is not None}

    async def count(self) -> int:
        """How many attempts are on record."""
        async with self._engine.connect() as connection:
            found = await connection.scalar(select(func.count()).select_from(attempts))
        return int(found or 0)

    async def _rows(self, query: Any) -> list[Attempt]:
        async with self._engine.connect() as connection:
            result = await connection.execute(query)
            return [_attempt(row._mapping) for row in result]


_COLUMNS = tuple(attempts.c[name] for name in Attempt.__slots__)


def _sqlite_transactions(engine: AsyncEngine) -> None:
    """Transactions SQLite keeps, DDL included, and write-ahead logging.

    The driver's own transaction handling commits DDL at once: two processes migrating one new
    file could leave a table without its version row. Here every transaction is BEGUN by us,
    and the migrations' one IMMEDIATE: the second migrator waits, then finds the schema at head.
    WAL lets `eventyard attempts` read while health writes.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(files("shared.attempts") / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _bounded(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value[: _BOUNDS[name]] if isinstance(value, str) and name in _BOUNDS else value
        for name, value in values.items()
    }


def _attempt(row: Any) -> Attempt:
    values = dict(row)
    values["at"] = _utc(values["at"])
    return Attempt(**values)


def _utc(at: datetime | str) -> datetime:
    # SQLite keeps no offset (and an aggregate of a time comes back as its text): every time is
    # written in UTC, so one read without an offset is UTC.
    found = datetime.fromisoformat(at) if isinstance(at, str) else at
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)
