"""Console search, customer history and the resolved list (handoff/history/): a search row per handoff
and the indexes that keep the console's pages fast with 10 000 handoffs.

``handoff_search`` starts empty; the service fills it in the background and on each search
(handoff/history/search_index.py), so no handoff is read here.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-13
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_search",
        sa.Column("handoff_id", sa.String(36), sa.ForeignKey("handoffs.id"), primary_key=True),
        sa.Column("customer", sa.String(64), nullable=True, index=True),
        sa.Column("order_number", sa.String(64), nullable=True, index=True),
        sa.Column("clear_text", sa.Text, nullable=False),
        sa.Column("masked_text", sa.Text, nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    # The queue and search (by status, newest first), the resolved list, and finding rows to index.
    op.create_index("ix_handoffs_status_created", "handoffs", ["status", "created_at"])
    op.create_index("ix_handoffs_status_resolved", "handoffs", ["status", "resolved_at"])
    op.create_index("ix_handoffs_created_at", "handoffs", ["created_at"])
    op.create_index("ix_handoffs_updated_at", "handoffs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_updated_at", "handoffs")
    op.drop_index("ix_handoffs_created_at", "handoffs")
    op.drop_index("ix_handoffs_status_resolved", "handoffs")
    op.drop_index("ix_handoffs_status_created", "handoffs")
    op.drop_table("handoff_search")
