"""council motions and votes; chain events name their pallet

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "council_motions",
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("proposal_hash", sa.String(length=66), nullable=False),
        sa.Column("proposer", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("call", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ayes", sa.Integer(), nullable=False),
        sa.Column("nays", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("index"),
    )
    with op.batch_alter_table("council_motions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_council_motions_proposal_hash"), ["proposal_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_council_motions_status"), ["status"], unique=False)
    op.create_table(
        "council_votes",
        sa.Column("motion", sa.BigInteger(), nullable=False),
        sa.Column("voter", sa.String(length=64), nullable=False),
        sa.Column("aye", sa.Boolean(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["motion"], ["council_motions.index"]),
        sa.PrimaryKeyConstraint("motion", "voter"),
    )
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pallet", sa.String(length=32), server_default="DecentralMl", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_chain_events_pallet"), ["pallet"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_events_pallet"))
        batch_op.drop_column("pallet")
    op.drop_table("council_votes")
    op.drop_table("council_motions")
