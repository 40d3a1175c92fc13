"""Erased conversations (issue 21): ``analytics_erased``, so queued broker events cannot bring them back.

An erasure (handoff/privacy/personal_data.py) deletes a customer's analytics rows, but events of
their conversations may still be on their way: queued in RabbitMQ while the consumer was down, or
resent by Rasa's Pika broker from memory after an outage.  The erasure writes one row here per
conversation it erased, and ingestion (handoff/analytics/ingest.py) drops an event of such a
conversation dated at or before ``erased_at``.  The key is the SHA-256 (hex) of the conversation id,
never the id itself: an SMS conversation's id is the customer's phone number.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_erased",
        sa.Column("conversation_hash", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Retention deletes the rows older than the transcript period.
    op.create_index("ix_analytics_erased_erased_at", "analytics_erased", ["erased_at"])


def downgrade() -> None:
    op.drop_index("ix_analytics_erased_erased_at", table_name="analytics_erased")
    op.drop_table("analytics_erased")
