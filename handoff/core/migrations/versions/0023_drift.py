"""Drift control (issue 22): placeholder, filled in by the feature that owns it.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
