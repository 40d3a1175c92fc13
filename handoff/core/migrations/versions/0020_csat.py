"""CSAT answers (issue 21): the customer's score and optional comment, stored with the conversation and
the handoff it followed (handoff/queue/csat.py).

``id`` is the action server's answer id (its idempotency key): an answer sent twice is one row.
``handoff_id`` is the conversation's latest handoff when the answer arrived (None: a bot-only
conversation).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "csat_answers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
        sa.Column("handoff_id", sa.String(36), sa.ForeignKey("handoffs.id"), nullable=True, index=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("csat_answers")
