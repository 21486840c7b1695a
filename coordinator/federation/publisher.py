"""`Publisher`: once the council releases a model this coordinator committed, publish its plaintext.

A released model's sealed bytes are opened with the validator's key, the plaintext is pinned in IPFS
and its CID recorded on chain with `publish_model` (the pallet checks the stated hash against the
committed plaintext hash). From then on anyone fetches and checks it without a coordinator. A model
once published cannot be unpublished: revocation only marks it withdrawn.
"""

from __future__ import annotations

import logging

from substrateinterface import Keypair

from decentralml.content import ContentError, ContentStore
from decentralml.crypto import SealError
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.errors import ChainError
from decentralml_bindings.types import ModelStatus

log = logging.getLogger(__name__)


class Publisher:
    """Publishes the released models this validator committed. Each model id is read once when it
    appears; after that only this validator's models still awaiting the council are read again."""

    def __init__(self, chain: DecentralMl, store: ContentStore, validator: Keypair) -> None:
        self.chain, self.store, self.key = chain, store, validator
        self.address = str(validator.ss58_address)
        self.seen = 0  # model ids below this were looked at
        self.pending: set[int] = set()  # committed by this validator, not published or revoked yet

    def tick(self) -> list[int]:
        """Publish every released, unpublished model this validator committed; the ids published."""
        _, _, next_model = self.chain.next_ids()
        for model_id in range(self.seen, next_model):
            model = self.chain.model(model_id)
            if model is not None and model.committed_by == self.address and model.published is None:
                self.pending.add(model_id)
        self.seen = max(self.seen, next_model)
        done = []
        for model_id in sorted(self.pending):
            model = self.chain.model(model_id)
            if model is None or model.status is ModelStatus.REVOKED or model.published is not None:
                self.pending.discard(model_id)
                continue
            if model.status is not ModelStatus.APPROVED:
                continue
            try:
                plaintext = model_bytes(self.store, model, self.key)
                stored = self.store.put(plaintext)
                self.chain.submit(calls.publish_model(model_id, stored.cid, model.hash), self.key)
            except (ContentError, SealError, ChainError) as failed:  # the others still get published
                log.warning(
                    "a released model could not be published", extra={"model": model_id, "error": str(failed)}
                )
                continue
            self.pending.discard(model_id)
            done.append(model_id)
            log.info("released model published", extra={"model": model_id, "cid": stored.cid})
        return done
