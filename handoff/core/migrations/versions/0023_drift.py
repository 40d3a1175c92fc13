"""Drift control (issue 22): the turn's top emotion label, and the daily drift checks.

``analytics_turns.emotion`` is the emotion model's top label of the customer's message, from the
``turn_record``'s optional ``emotion`` key, only with consent (null before this revision and for
opted-out turns).  ``drift_checks`` holds one row per UTC day, chart and key (an intent or emotion
label, "" otherwise): the day's value, the chart's centre line and control limits, the number of
turns, and the status (``in_control``, ``out_of_control`` — the stored alert —, or for a day that
could not be checked ``too_few`` / ``no_reference``).  handoff/analytics/drift.py writes it.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_turns") as batch:
        batch.add_column(sa.Column("emotion", sa.String(32), nullable=True))
    op.create_table(
        "drift_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("chart", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("center", sa.Float, nullable=False),
        sa.Column("lower", sa.Float, nullable=False),
        sa.Column("upper", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("day", "chart", "key", name="uq_drift_checks_point"),
    )
    op.create_index("ix_drift_checks_day", "drift_checks", ["day"])


def downgrade() -> None:
    op.drop_index("ix_drift_checks_day", table_name="drift_checks")
    op.drop_table("drift_checks")
    with op.batch_alter_table("analytics_turns") as batch:
        batch.drop_column("emotion")
