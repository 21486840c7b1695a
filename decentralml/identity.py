"""One identity from chain to transport: a worker's Flower node key, bound to its chain account.

A worker's SuperNode authenticates to the SuperLink with an EC key pair (NIST P-384, OpenSSH
format, as Flower's SuperNode authentication wants). The worker binds the public key to its chain
account with a statement signed by its sr25519 account key:

    decentralml node key v1
    account: <ss58>
    superlink: <host:port>
    node key: <OpenSSH public key>

The coordinator verifies the signature against the account and admits the key only for an account
assigned to a task it runs (`coordinator.federation.nodes`). The statement names the SuperLink, so
a binding made for one coordinator cannot be replayed to another. The private node key never
leaves the worker's state directory (mode 0600).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from substrateinterface import Keypair, KeypairType

PREFIX = "decentralml node key v1"
MAX_PUBLIC_KEY = 1024


class BindingError(ValueError):
    """A node-key binding that does not check out: malformed, or not signed by its account."""


def statement(account: str, superlink: str, public_key: str) -> bytes:
    """The exact bytes a worker signs to bind `public_key` (OpenSSH) to `account`."""
    return f"{PREFIX}\naccount: {account}\nsuperlink: {superlink}\nnode key: {public_key}\n".encode()


@dataclass(frozen=True)
class NodeKey:
    """A node's key pair on disk: `private` (OpenSSH private key) and `public` (OpenSSH line)."""

    private: Path
    public: Path

    @classmethod
    def ensure(cls, directory: Path) -> NodeKey:
        """The node key in `directory`, created (P-384, private file 0600) if missing."""
        directory.mkdir(parents=True, exist_ok=True)
        key = cls(directory / "node-key", directory / "node-key.pub")
        if not key.private.exists():
            private = ec.generate_private_key(ec.SECP384R1())
            data = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
            descriptor = os.open(key.private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
            public = private.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            key.public.write_bytes(public + b"\n")
        return key

    def public_text(self) -> str:
        return self.public.read_text().strip()


@dataclass(frozen=True)
class Binding:
    """A signed statement binding `public_key` to `account` for one SuperLink."""

    account: str
    superlink: str
    public_key: str
    signature: str  # 0x-hex sr25519 signature of `statement(...)`

    @classmethod
    def sign(cls, keypair: Keypair, superlink: str, public_key: str) -> Binding:
        account = str(keypair.ss58_address)
        signature = keypair.sign(statement(account, superlink, public_key))
        return cls(account, superlink, public_key, "0x" + bytes(signature).hex())

    def verify(self, superlink: str) -> None:
        """Nothing if the binding is well formed, for `superlink`, and signed by its account;
        BindingError saying what is wrong otherwise."""
        if self.superlink != superlink:
            raise BindingError(f"the binding is for SuperLink {self.superlink}, this one is {superlink}")
        if len(self.public_key) > MAX_PUBLIC_KEY or "\n" in self.public_key:
            raise BindingError("the node key must be one OpenSSH public key line")
        try:
            loaded = serialization.load_ssh_public_key(self.public_key.encode())
        except (ValueError, TypeError) as bad:
            raise BindingError(f"the node key is not an OpenSSH public key: {bad}") from bad
        if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name not in (
            "secp256r1",
            "secp384r1",
            "secp521r1",
        ):
            raise BindingError("the node key must be an EC key on a NIST curve (P-256, P-384 or P-521)")
        try:
            signer = Keypair(ss58_address=self.account, crypto_type=KeypairType.SR25519)
            signature = bytes.fromhex(self.signature.removeprefix("0x"))
            valid = signer.verify(statement(self.account, self.superlink, self.public_key), signature)
        except (ValueError, TypeError) as bad:
            raise BindingError(f"the binding cannot be checked: {bad}") from bad
        if not valid:
            raise BindingError(f"the binding is not signed by {self.account}")

    def public_key_pem(self) -> bytes:
        """The node key as Flower's registry stores it (PEM SubjectPublicKeyInfo)."""
        loaded = serialization.load_ssh_public_key(self.public_key.encode())
        return loaded.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
