"""Analytics roll-ups (issue 21): daily counts and sums per channel for the supervisor dashboard
(handoff/analytics/rollups.py), so the page reads a few hundred rows, not a million turns.

``analytics_daily`` holds one row per day, channel, metric and label (a reason, a status, a score
band); it names no conversation.  ``analytics_rollup_days`` says when each day was last computed,
``analytics_rollup_marks`` how far each fact table has been seen (its largest id), so a refresh
recomputes only the days that new rows fall on.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_daily",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("label", sa.String(160), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "metric", "label", name="pk_analytics_daily"),
    )
    op.create_table(
        "analytics_rollup_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "analytics_rollup_marks",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in ("analytics_rollup_marks", "analytics_rollup_days", "analytics_daily"):
        op.drop_table(name)
