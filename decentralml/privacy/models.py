"""Reading a committed model: its published plaintext, or its sealed bytes opened by a recipient.

Whatever the path, the plaintext is checked against the sha256 the chain committed, so a model read
here is the model the committee attested.
"""

from __future__ import annotations

from typing import Protocol

from substrateinterface import Keypair

from decentralml.content import HashMismatchError, sha256_hex
from decentralml.crypto import SealError
from decentralml.privacy.sealing import MAGIC, Context, is_sealed, open_bytes
from decentralml_bindings.types import ModelCommit


class ModelStore(Protocol):
    def get(self, cid: str, expected_sha256: str) -> bytes: ...

    def fetch(self, cid: str) -> bytes: ...


def model_context(model: ModelCommit) -> Context:
    """What the committing member bound its sealed model to."""
    return Context("model", model.task_id, model.round, model.committed_by)


def model_bytes(store: ModelStore, model: ModelCommit, reader: Keypair | None) -> bytes:
    """The model's plaintext: the published copy when there is one, else the sealed copy opened
    with `reader`'s sealing key. SealError when it is sealed and `reader` is None or not a recipient;
    HashMismatchError when the plaintext is not the one committed."""
    if model.published is not None:
        return store.get(model.published, model.hash)
    stored = store.fetch(model.cid)
    if is_sealed(stored[: len(MAGIC)]):
        if reader is None:
            raise SealError(f"model {model.cid} is sealed and not published")
        stored = open_bytes(stored, reader, model_context(model))
    actual = sha256_hex(stored)
    if actual != model.hash.lower():
        raise HashMismatchError(model.cid, model.hash, actual)
    return stored
