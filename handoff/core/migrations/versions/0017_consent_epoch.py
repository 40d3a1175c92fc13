"""The consent epoch: one row whose token changes with anything that can change a customer's
consent answer (handoff/privacy/consent_epoch.py), so the Rasa servers can cache the answers and
revalidate them with a conditional request instead of resolving the customer on every message.

The row starts with a random token; a database that existed before has no cached answers anywhere.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-13
"""

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "consent_epoch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "value": uuid.uuid4().hex, "changed_at": datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table("consent_epoch")
