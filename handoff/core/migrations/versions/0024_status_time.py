"""The time of a conversation's handoff status (issue 21): ``analytics_conversations.handoff_status_at``.

Resent broker events arrive out of order (the Pika broker resends what RabbitMQ did not confirm), so
the analytics ingestion keeps the ``handoff_status`` of the latest status EVENT, by its timestamp,
not the last one delivered (handoff/analytics/ingest.py).  Rows written before this revision have no
time: the next status event delivered for the conversation replaces theirs.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_conversations") as batch:
        batch.add_column(sa.Column("handoff_status_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analytics_conversations") as batch:
        batch.drop_column("handoff_status_at")
