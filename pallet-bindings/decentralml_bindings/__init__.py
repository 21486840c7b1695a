"""Typed Python bindings for the DecentralML pallet, on substrate-interface.

- `calls`: one builder per pallet call, returning a `Call`;
- `council`: propose, vote and close council motions (model release goes through them);
- `client.DecentralMl`: signs, submits (`Receipt` with typed events), batches, relays, reads storage;
  `blocks` and `event_spans` are its batched reads of runs of blocks (the indexer's catch-up);
- `types`: one type per on-chain struct and enum;
- `events`: one dataclass per pallet event;
- `errors`: one exception per pallet error, carrying its doc line;
- `dev`: the devnet's dev accounts.
"""

from decentralml_bindings import calls, council, errors, events, types
from decentralml_bindings.calls import Call
from decentralml_bindings.client import DecentralMl, Receipt
from decentralml_bindings.errors import (
    ChainError,
    DecentralMlError,
    DispatchFailed,
    ExtrinsicRejected,
    InclusionTimeout,
)

__all__ = [
    "Call",
    "ChainError",
    "DecentralMl",
    "DecentralMlError",
    "DispatchFailed",
    "ExtrinsicRejected",
    "InclusionTimeout",
    "Receipt",
    "calls",
    "council",
    "errors",
    "events",
    "types",
]
