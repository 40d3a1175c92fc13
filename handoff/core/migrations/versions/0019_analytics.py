"""Analytics (issue 21): the tables the analytics consumer fills from Rasa's event broker
(handoff/analytics/), and its cursor.

Every fact table has a unique key per conversation and broker event (``event_key``, a hash of the
event as published), so an event delivered twice (the brokers are at-least-once) is one row.
The unique key also serves erasure and export by conversation
(its leading column).  ``analytics_exposures`` stays empty until the experiments issue writes to it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _fact_table(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("event_key", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        *columns,
        sa.UniqueConstraint("conversation_id", "event_key", name=f"uq_{name}_event"),
    )


def upgrade() -> None:
    op.create_table(
        "analytics_cursor",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "analytics_conversations",
        sa.Column("conversation_id", sa.String(255), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=True, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_escalation_turn", sa.Integer, nullable=True),
        sa.Column("handoff_status", sa.String(16), nullable=True),
    )
    _fact_table(
        "analytics_turns",
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("tone", sa.String(16), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("emotion_processing", sa.String(3), nullable=False),
        sa.Column("frustration", sa.Float, nullable=True),
        sa.Column("distress", sa.Float, nullable=True),
    )
    _fact_table(
        "analytics_escalations",
        sa.Column("turn", sa.Integer, nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
    )
    _fact_table("analytics_callbacks", sa.Column("status", sa.String(32), nullable=False))
    _fact_table(
        "analytics_csat",
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
    )
    op.create_table(
        "analytics_exposures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.UniqueConstraint("conversation_id", "experiment", name="uq_analytics_exposures_experiment"),
    )


def downgrade() -> None:
    for name in (
        "analytics_exposures",
        "analytics_csat",
        "analytics_callbacks",
        "analytics_escalations",
        "analytics_turns",
        "analytics_conversations",
        "analytics_cursor",
    ):
        op.drop_table(name)
