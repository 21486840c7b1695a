"""Sealing the task creator's validation data to the validator, so only the referee can read it.

A libsodium sealed box (PyNaCl's `SealedBox`: X25519 key exchange with an ephemeral key, then
XSalsa20-Poly1305): anyone can seal to the validator's public *sealing key*, only the holder of
its secret opens, and any change to the ciphertext is detected. A reader of IPFS learns the
sealed size (plaintext size + 48 bytes) and the recipient's public key, nothing else.

The sealing key is derived from the validator's chain account secret (a keyed BLAKE2b of it), so
the coordinator keeps no second secret. The validator publishes it with a statement signed by its
sr25519 account (`sealing_statement`), and a creator seals only after `verify_sealing_key` checks
that statement against the validator address the task will name on chain.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, PublicKey, SealedBox
from substrateinterface import Keypair

SEAL_OVERHEAD = 48  # ephemeral public key (32) + Poly1305 tag (16)
_DERIVE = b"decentralml-seal"
_STATEMENT = b"decentralml sealing key v1:"


class SealError(ValueError):
    """Sealed data that cannot be opened with this key, or a sealing key that does not verify."""


def sealing_secret(account: Keypair) -> PrivateKey:
    """The validator's X25519 secret, derived from its chain account's secret."""
    if not account.private_key:
        raise SealError("a sealing key needs the account's secret, not only its address")
    seed = nacl.hash.blake2b(bytes(account.private_key), key=_DERIVE, digest_size=32, encoder=RawEncoder)
    return PrivateKey(seed)


def sealing_key_hex(account: Keypair) -> str:
    """0x and the 64 hex digits of the validator's public sealing key."""
    return "0x" + bytes(sealing_secret(account).public_key).hex()


def sealing_statement(account: Keypair) -> dict[str, str]:
    """What a validator publishes: its address, its sealing key, and its signature over both."""
    key = sealing_key_hex(account)
    signature = account.sign(_STATEMENT + key.encode())
    return {"account": account.ss58_address, "sealing_key": key, "signature": "0x" + bytes(signature).hex()}


def verify_sealing_key(statement: dict[str, str], validator: str) -> str:
    """The sealing key of `statement` if `validator` (an SS58 address) signed it; else SealError."""
    key, signature = statement.get("sealing_key", ""), statement.get("signature", "")
    if statement.get("account") != validator:
        raise SealError(f"the sealing key is published by {statement.get('account')}, not by {validator}")
    try:
        valid = Keypair(ss58_address=validator).verify(_STATEMENT + key.encode(), signature)
    except (TypeError, ValueError) as bad:
        raise SealError(f"the sealing key's signature is malformed: {bad}") from bad
    if not valid:
        raise SealError(f"the sealing key's signature does not verify against {validator}")
    public_key(key)
    return key


def public_key(key_hex: str) -> PublicKey:
    """The X25519 public key `key_hex` (0x and 64 hex digits); SealError if it is not one, or is
    one nothing can be sealed to (all zeros, or another low-order point libsodium refuses)."""
    try:
        key = PublicKey(bytes.fromhex(key_hex.removeprefix("0x")))
    except (ValueError, TypeError) as bad:
        raise SealError(f"not a sealing key (0x and 64 hex digits): {key_hex!r}") from bad
    try:
        SealedBox(key).encrypt(b"")
    except nacl.exceptions.CryptoError as weak:
        raise SealError(
            f"{key_hex!r} is not a usable sealing key (a low-order point, such as all zeros)"
        ) from weak
    return key


def seal(plaintext: bytes, recipient_hex: str) -> bytes:
    """`plaintext` sealed to the public sealing key `recipient_hex`."""
    return bytes(SealedBox(public_key(recipient_hex)).encrypt(plaintext))


def open_sealed(ciphertext: bytes, account: Keypair) -> bytes:
    """The plaintext of data sealed to `account`'s sealing key; SealError if it was sealed to
    another key or altered."""
    try:
        return bytes(SealedBox(sealing_secret(account)).decrypt(ciphertext))
    except nacl.exceptions.CryptoError as failed:
        raise SealError("cannot open the sealed data: sealed to another key, or altered") from failed
