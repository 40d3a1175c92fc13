"""Idle CSAT candidates (issue 21): conversations whose bot last asked "anything else?".

One row per conversation (``csat_idle``), written by the analytics ingestion from Rasa's event broker
(handoff/analytics/idle_csat.py): armed by the "anything else?" (``prompt``, ``prompted_at``),
cleared by the customer's next message (``activity_at`` keeps the latest, so a redelivered prompt
never re-arms), then claimed once and triggered by the service's idle worker after policy/csat.yml
``idle_minutes`` (``status``, ``attempts``, ``next_try_at``, ``claimed_at``, ``triggered_at``,
``error``).  The worker's query reads ``(status, prompted_at)``.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "csat_idle",
        sa.Column("conversation_id", sa.String(255), primary_key=True),
        sa.Column("prompt", sa.String(64), nullable=True),
        sa.Column("prompted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
    )
    op.create_index("ix_csat_idle_status_prompted", "csat_idle", ["status", "prompted_at"])


def downgrade() -> None:
    op.drop_index("ix_csat_idle_status_prompted", table_name="csat_idle")
    op.drop_table("csat_idle")
