"""An excerpt of what an attempt handled (the message's data).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable `request` column (rows written before it have none)."""
    op.add_column("attempts", sa.Column("request", sa.String(300), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("attempts") as batch:  # SQLite rebuilds the table to drop one
        batch.drop_column("request")
