"""assignments: the worker's declared dataset card (CID and sha256 of its DATASET.md)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("assignments", sa.Column("dataset_cid", sa.String(length=128), nullable=True))
    op.add_column("assignments", sa.Column("dataset_hash", sa.String(length=66), nullable=True))


def downgrade() -> None:
    op.drop_column("assignments", "dataset_hash")
    op.drop_column("assignments", "dataset_cid")
