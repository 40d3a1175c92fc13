"""Shadow mode (issue 22): placeholder, filled in by the feature that owns it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02
"""

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
