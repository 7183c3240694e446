"""The attempts log's one table (created and changed only by the migrations beside it)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

# Column bounds: what a hostile or broken outcome event may put in a row is cut to these.
ID_CHARS, NAME_CHARS, OUTCOME_CHARS, EXCERPT_CHARS, REQUEST_CHARS = 100, 200, 20, 500, 300

metadata = MetaData()

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(ID_CHARS), nullable=False),
    Column("event_type", String(NAME_CHARS), nullable=False),
    Column("kind", String(OUTCOME_CHARS), nullable=False),  # delivery, email, …
    Column("target", String(NAME_CHARS), nullable=False),  # destination, integration, provider
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(OUTCOME_CHARS), nullable=False),
    Column("duration_ms", Float, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("error_class", String(NAME_CHARS), nullable=True),
    Column("excerpt", String(EXCERPT_CHARS), nullable=True),  # redacted before it is written
    Column("rung", String(NAME_CHARS), nullable=True),  # where a failed attempt's retry waits
    Column("request", String(REQUEST_CHARS), nullable=True),  # what it handled; redacted
    Index("attempts_event", "event_id"),
    Index("attempts_target_at", "target", "at"),
    Index("attempts_at", "at"),
)
