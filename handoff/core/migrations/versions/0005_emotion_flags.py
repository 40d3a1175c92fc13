"""Agents' corrections of emotion readings, reviewed before they become training examples.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emotion_flags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handoff_id", sa.String(36), sa.ForeignKey("handoffs.id"), nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("predicted", sa.String(32), nullable=False),
        sa.Column("corrected", sa.String(32), nullable=False),
        sa.Column("flagged_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reviewed_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("handoff_id", "turn", "flagged_by", name="uq_emotion_flags_once_per_agent"),
    )


def downgrade() -> None:
    op.drop_table("emotion_flags")
