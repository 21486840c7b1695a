"""The devnet's well-known accounts (never use them on a real chain) and the token unit."""

from __future__ import annotations

from substrateinterface import Keypair

UNIT = 10**12
"""One DML in the smallest unit (12 decimals)."""

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    Keypair.create_from_uri(f"//{name}") for name in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)
