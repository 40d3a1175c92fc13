"""Agent console: agents with roles, login sessions, and who holds a handoff.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(
            sa.Column(
                "claimed_by",
                sa.Integer,
                sa.ForeignKey("agents.id", name="fk_handoffs_claimed_by"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("agent_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_handoffs_queue", "handoffs", ["status", "priority", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_queue", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        for column in ("resolved_at", "agent_seen_at", "claimed_at", "claimed_by"):
            batch.drop_column(column)
    op.drop_table("console_sessions")
    op.drop_table("agents")
