"""Call-backs on a schedule: when to place the next attempt, the window it must fall in, who it is for
(the daily limit counts per customer), what the customer still has to be told, and the status trail.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_jobs") as batch:
        batch.add_column(sa.Column("customer", sa.String(64), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("window_end", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("notice", sa.String(32), nullable=True))
        batch.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("trail_json", sa.Text, nullable=True))
        batch.create_index("ix_call_jobs_due", ["status", "next_attempt_at"])
        batch.create_index("ix_call_jobs_to_number", ["to_number"])
        batch.create_index("ix_call_jobs_customer", ["customer"])


def downgrade() -> None:
    with op.batch_alter_table("call_jobs") as batch:
        batch.drop_index("ix_call_jobs_customer")
        batch.drop_index("ix_call_jobs_to_number")
        batch.drop_index("ix_call_jobs_due")
        for column in ("trail_json", "notified_at", "notice", "window_end", "next_attempt_at", "customer"):
            batch.drop_column(column)
