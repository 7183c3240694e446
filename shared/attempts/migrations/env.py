"""Alembic's environment for the attempts log: the connection comes from AttemptsStore."""

from __future__ import annotations

from alembic import context

from shared.attempts.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
