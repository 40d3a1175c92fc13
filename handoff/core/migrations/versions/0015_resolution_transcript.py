"""A resolved handoff keeps who resolved it and the human part of its conversation (the agent's and
the customer's messages from the claim to the resolve).

Handoffs resolved before it have neither; the console and the API say so.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(
            sa.Column(
                "resolved_by",
                sa.Integer,
                sa.ForeignKey("agents.id", name="fk_handoffs_resolved_by"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("human_transcript", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("human_transcript")
        batch.drop_constraint("fk_handoffs_resolved_by", type_="foreignkey")
        batch.drop_column("resolved_by")
