"""Typed SQLAlchemy models of the mirror. Every row is a copy of chain state at `synced_block`.

Balances are u128 on chain (`U128`): NUMERIC(39, 0) on PostgreSQL, decimal text on SQLite (whose
numbers are 64-bit), exact on both, `int` in Python.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Dialect, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine


class U128(TypeDecorator[int]):
    """An unsigned 128-bit amount, exact on every backend."""

    impl = Numeric(39, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(39))
        return dialect.type_descriptor(Numeric(39, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(int(value)) if dialect.name == "sqlite" else Decimal(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


Amount = U128()
Address = String(64)
Hash = String(66)


class Base(DeclarativeBase):
    pass


class SyncedMixin:
    """The block whose state a row copies."""

    synced_block: Mapped[int] = mapped_column(BigInteger)


class Task(SyncedMixin, Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    creator: Mapped[str] = mapped_column(Address, index=True)
    task_type: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    rounds: Mapped[int] = mapped_column(Integer)
    committed_rounds: Mapped[int] = mapped_column(Integer)
    max_assignments: Mapped[int] = mapped_column(Integer)
    assigned: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    validation: Mapped[str] = mapped_column(String(16))
    validation_threshold: Mapped[int | None] = mapped_column(Integer)
    validators: Mapped[list[str]] = mapped_column(JSON)
    reward_per_result: Mapped[int] = mapped_column(Amount)
    deposited: Mapped[int] = mapped_column(Amount)
    paid: Mapped[int] = mapped_column(Amount)
    refunded: Mapped[int] = mapped_column(Amount)
    escrowed: Mapped[int] = mapped_column(Amount)
    manifest_cid: Mapped[str] = mapped_column(String(128))
    manifest_hash: Mapped[str] = mapped_column(Hash)
    base_model: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Assignment(SyncedMixin, Base):
    __tablename__ = "assignments"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    worker: Mapped[str] = mapped_column(Address, primary_key=True, index=True)
    slot: Mapped[int] = mapped_column(Integer)
    assigned_at: Mapped[int] = mapped_column(BigInteger)
    # The worker's dataset card (DATASET.md) in IPFS and its sha256, once declared.
    dataset_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    dataset_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)


class Result(SyncedMixin, Base):
    __tablename__ = "results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(Address, index=True)
    cid: Mapped[str] = mapped_column(String(128))
    hash: Mapped[str] = mapped_column(Hash)
    status: Mapped[str] = mapped_column(String(24), index=True)
    approvals: Mapped[int] = mapped_column(Integer)
    disapprovals: Mapped[int] = mapped_column(Integer)
    rejection: Mapped[str | None] = mapped_column(String(32))
    reward_paid: Mapped[int] = mapped_column(Amount, default=0)
    submitted_at: Mapped[int] = mapped_column(BigInteger)


class Verdict(SyncedMixin, Base):
    __tablename__ = "verdicts"

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), primary_key=True)
    validator: Mapped[str] = mapped_column(Address, primary_key=True)
    approved: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[int] = mapped_column(BigInteger)


class Model(SyncedMixin, Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    cid: Mapped[str] = mapped_column(String(128))
    hash: Mapped[str] = mapped_column(Hash)
    accepted: Mapped[list[int]] = mapped_column(JSON)
    parent: Mapped[int | None] = mapped_column(BigInteger)
    committed_by: Mapped[str] = mapped_column(Address)
    committed_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # CID of the plaintext once published after the council's release (`cid` names sealed bytes).
    published: Mapped[str | None] = mapped_column(String(128), default=None)
    attestations: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class CouncilMotion(Base):
    """A council motion (`Council.propose`), kept from its events: the chain prunes closed ones."""

    __tablename__ = "council_motions"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    proposal_hash: Mapped[str] = mapped_column(Hash, index=True)
    proposer: Mapped[str] = mapped_column(Address)
    threshold: Mapped[int] = mapped_column(Integer)
    call: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    ayes: Mapped[int] = mapped_column(Integer)
    nays: Mapped[int] = mapped_column(Integer)
    proposed_at: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(String(256))


class CouncilVote(Base):
    """A member's current vote on a motion (a member may change it while the motion is open)."""

    __tablename__ = "council_votes"

    motion: Mapped[int] = mapped_column(ForeignKey("council_motions.index"), primary_key=True)
    voter: Mapped[str] = mapped_column(Address, primary_key=True)
    aye: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[int] = mapped_column(BigInteger)


class ChainEvent(Base):
    """Every DecentralMl and Council event, keyed by where it happened: replaying changes nothing."""

    __tablename__ = "chain_events"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_hash: Mapped[str] = mapped_column(Hash)
    pallet: Mapped[str] = mapped_column(String(32), index=True, server_default="DecentralMl")
    name: Mapped[str] = mapped_column(String(32), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)


class IndexerCursor(Base):
    """The last block fully applied, and its hash (to notice a chain that was reset)."""

    __tablename__ = "indexer_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(Hash)
