"""Merges of two customers, recorded with what moved so an authorised call can undo them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kept_id", sa.String(40), nullable=False, index=True),
        sa.Column("removed_id", sa.String(40), nullable=False, index=True),
        sa.Column("removed_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_choice", sa.String(8), nullable=False),
        sa.Column("kept_choice_before", sa.String(8), nullable=False),
        sa.Column("choice_after", sa.String(8), nullable=False),
        sa.Column("identities_json", sa.Text, nullable=False),
        sa.Column("consent_events_json", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("customer_merges")
