"""models: the CID of a released model's published plaintext, and the attestations that committed it

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("published", sa.String(length=128), nullable=True))
    op.add_column("models", sa.Column("attestations", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("models", "attestations")
    op.drop_column("models", "published")
