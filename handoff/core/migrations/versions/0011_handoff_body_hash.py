"""The fingerprint of a handoff's body (without its volatile fields), so a reused idempotency key
with a different body is refused (409) instead of being taken for a retry.

Rows stored before it have none; the service then compares with the stored payload.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("body_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("body_hash")
