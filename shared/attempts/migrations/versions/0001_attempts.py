"""The attempts table.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table and its indexes."""
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error_class", sa.String(200), nullable=True),
        sa.Column("excerpt", sa.String(500), nullable=True),
    )
    op.create_index("attempts_event", "attempts", ["event_id"])
    op.create_index("attempts_target_at", "attempts", ["target", "at"])
    op.create_index("attempts_at", "attempts", ["at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("attempts")
