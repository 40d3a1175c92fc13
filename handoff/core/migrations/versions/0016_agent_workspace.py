"""The agent workspace (handoff/workspace/): canned responses, internal notes, transfers between agents,
a disposition on resolve, and each agent's presence and capacity.

Agents who existed before it are ``online`` with the default capacity; handoffs resolved before it
have no disposition (the console says so).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("shortcut", sa.String(32), nullable=False, unique=True),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "handoff_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handoff_id", sa.String(36), sa.ForeignKey("handoffs.id"), nullable=False, index=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "handoff_transfers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handoff_id", sa.String(36), sa.ForeignKey("handoffs.id"), nullable=False, index=True),
        sa.Column("from_agent", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("to_agent", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("by_agent", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("disposition", sa.String(32), nullable=True))
        batch.add_column(sa.Column("disposition_note", sa.Text, nullable=True))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("presence", sa.String(16), nullable=False, server_default="online"))
        batch.add_column(sa.Column("capacity", sa.Integer, nullable=False, server_default="3"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("capacity")
        batch.drop_column("presence")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("disposition_note")
        batch.drop_column("disposition")
    op.drop_table("handoff_transfers")
    op.drop_table("handoff_notes")
    op.drop_table("canned_responses")
