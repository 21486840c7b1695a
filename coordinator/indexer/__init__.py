"""The chain indexer: follows finalized blocks and keeps the SQL mirror equal to chain state."""

from coordinator.indexer.sync import Indexer

__all__ = ["Indexer"]
