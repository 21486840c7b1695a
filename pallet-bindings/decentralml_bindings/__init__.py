"""Python access to the DecentralML pallet over substrate-interface.

This first module signs and submits extrinsics and reports what they did; typed calls, storage,
events and errors mirroring the pallet one to one grow here (issue 3).
"""

from decentralml_bindings.submit import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    FERDIE,
    PALLET,
    UNIT,
    Outcome,
    balance,
    bounded,
    cid,
    hex32,
    must,
    storage,
    submit,
)

__all__ = [
    "ALICE",
    "BOB",
    "CHARLIE",
    "DAVE",
    "EVE",
    "FERDIE",
    "PALLET",
    "UNIT",
    "Outcome",
    "balance",
    "bounded",
    "cid",
    "hex32",
    "must",
    "storage",
    "submit",
]
