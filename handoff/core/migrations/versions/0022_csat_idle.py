"""Idle CSAT candidates (issue 21): placeholder, filled in by the feature that owns it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
