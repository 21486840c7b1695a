"""Updates sent as changes from the round's global model, and the one table of how each is read.

A worker sends a compact update (`TaskManifest.update_encoding`) as a file that names the global
model it was trained from; the referee, every committee member and `dml model verify` rebuild the
float32 update from that model with the decoder its magic names. Each decoder refuses a file made
from another model, or malformed, with a `CodecError`.
"""

from __future__ import annotations

from collections.abc import Callable

from decentralml import codec, signs, sparse
from decentralml.codec import Weights

Decode = Callable[[bytes, Weights, str], Weights]

DECODERS: dict[bytes, Decode] = {
    codec.DELTA_MAGIC: codec.decode_delta,  # float16_delta
    codec.SPARSE_MAGIC: sparse.decode_sparse,  # sparse_int8
    codec.SIGN_MAGIC: signs.decode_signs,  # sign1
}
MAGIC_LENGTH = len(codec.MAGIC)  # every magic is as long


def decoder(start: bytes) -> Decode | None:
    """The decoder for a file beginning `start` (at least its magic), or None for full weights."""
    return DECODERS.get(bytes(start[:MAGIC_LENGTH]))
