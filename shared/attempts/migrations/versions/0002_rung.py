"""The ladder step a failed attempt waits on.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable `rung` column (rows written before it have none)."""
    op.add_column("attempts", sa.Column("rung", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("attempts") as batch:  # SQLite rebuilds the table to drop one
        batch.drop_column("rung")
