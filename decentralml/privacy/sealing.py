"""Sealed envelopes: an update or a model readable only by its recipients, bound to its context.

    b"DMLS1\\n" | u32 header length (little endian) | header JSON | secretstream header (24 bytes)
    | frames: XChaCha20-Poly1305 secretstream chunks of `chunk` plaintext bytes (+17 each),
      the last one (possibly empty) tagged FINAL

The header names the context (what the bytes are: purpose, task, round, sender), the chunk size,
and for each recipient its public sealing key (`decentralml.crypto`) with a libsodium sealed box
of the envelope's fresh 32-byte file key. Every chunk carries sha256(magic + header) as associated
data, so a header changed in any way (another worker's account put in the context, a recipient
added) makes every chunk fail to open. A ciphertext copied from another worker's result therefore
opens only as *that* worker's, for *that* task and round: `open_file` with the copier's expected
context refuses it.

Sealing and opening stream from file to file: memory stays at one chunk (1 MiB by default),
whatever the size of the model. An IPFS reader learns the plaintext size (to a chunk's 17-byte
tag) and the recipients' public keys, nothing else.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nacl.bindings as sodium
import nacl.exceptions
from nacl.public import SealedBox
from substrateinterface import Keypair

from decentralml.crypto import SealError, public_key, sealing_key_hex, sealing_secret

MAGIC = b"DMLS1\n"
CHUNK = 1 << 20
MAX_HEADER = 1 << 16
MAX_RECIPIENTS = 64
_STREAM_HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_TAG_BYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE

__all__ = [
    "CHUNK",
    "MAGIC",
    "Context",
    "SealError",
    "is_sealed",
    "open_bytes",
    "open_file",
    "seal_bytes",
    "seal_file",
]


@dataclass(frozen=True)
class Context:
    """What sealed bytes are: bound into every chunk, checked by the opener.

    `purpose` is "update" (a worker's result: `sender` is the worker's address) or "model" (a
    round's aggregate: `sender` is the committee member that sealed it)."""

    purpose: str
    task: int
    round: int
    sender: str

    def as_json(self) -> dict[str, object]:
        return {"purpose": self.purpose, "task": self.task, "round": self.round, "sender": self.sender}


def is_sealed(head: bytes) -> bool:
    """Whether bytes starting with `head` are a sealed envelope."""
    return head[: len(MAGIC)] == MAGIC


def _header(context: Context, recipients: Iterable[str], file_key: bytes, chunk: int) -> bytes:
    keys = sorted(set(recipients))
    if not keys:
        raise SealError("sealing needs at least one recipient")
    if len(keys) > MAX_RECIPIENTS:
        raise SealError(f"at most {MAX_RECIPIENTS} recipients, not {len(keys)}")
    wrapped = [
        {"key": key, "wrapped": bytes(SealedBox(public_key(key)).encrypt(file_key)).hex()} for key in keys
    ]
    head = {"context": context.as_json(), "chunk": chunk, "recipients": wrapped}
    return json.dumps(head, sort_keys=True, separators=(",", ":")).encode()


def seal_stream(
    source: BinaryIO, sink: BinaryIO, context: Context, recipients: Iterable[str], chunk: int = CHUNK
) -> None:
    """Read `source` to its end and write it sealed to every key in `recipients` into `sink`."""
    if not 1 <= chunk <= 1 << 26:
        raise SealError(f"chunk size out of range: {chunk}")
    file_key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    head = _header(context, recipients, file_key, chunk)
    associated = hashlib.sha256(MAGIC + head).digest()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    stream_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, file_key)
    sink.write(MAGIC + struct.pack("<I", len(head)) + head + stream_header)
    block = source.read(chunk)
    while True:
        following = source.read(chunk) if len(block) == chunk else b""
        tag = _MESSAGE if following else _FINAL
        sink.write(sodium.crypto_secretstream_xchacha20poly1305_push(state, block, associated, tag))
        if tag == _FINAL:
            return
        block = following


def _read_exact(source: BinaryIO, size: int, what: str) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise SealError(f"truncated sealed data: the {what} is cut short")
    return data


def open_stream(source: BinaryIO, sink: BinaryIO, account: Keypair, expected: Context) -> None:
    """Write the plaintext of the envelope in `source` into `sink`. SealError when it is not an
    envelope, was sealed for another context (task, round, sender or purpose), is not sealed to
    `account`'s sealing key, or was altered, truncated or extended in any byte."""
    if _read_exact(source, len(MAGIC), "magic") != MAGIC:
        raise SealError("not a sealed DecentralML envelope (bad magic)")
    (length,) = struct.unpack("<I", _read_exact(source, 4, "header length"))
    if length > MAX_HEADER:
        raise SealError("sealed header length out of range")
    head = _read_exact(source, length, "header")
    try:
        parsed = json.loads(head)
        context = parsed["context"]
        chunk = int(parsed["chunk"])
        wrapped = {str(r["key"]): bytes.fromhex(str(r["wrapped"])) for r in parsed["recipients"]}
    except (ValueError, KeyError, TypeError) as bad:
        raise SealError(f"unreadable sealed header: {bad}") from bad
    if context != expected.as_json():
        raise SealError(
            f"sealed for {_describe(context)}, not for {_describe(expected.as_json())}: "
            "a copied or misdirected ciphertext"
        )
    if not 1 <= chunk <= 1 << 26:
        raise SealError(f"chunk size out of range: {chunk}")
    mine = sealing_key_hex(account)
    if mine not in wrapped:
        raise SealError(f"not sealed to this account's sealing key {mine}")
    try:
        file_key = bytes(SealedBox(sealing_secret(account)).decrypt(wrapped[mine]))
    except nacl.exceptions.CryptoError as failed:
        raise SealError("the file key sealed to this account does not open: altered") from failed
    associated = hashlib.sha256(MAGIC + head).digest()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    stream_header = _read_exact(source, _STREAM_HEADER, "stream header")
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, stream_header, file_key)
    except (nacl.exceptions.CryptoError, ValueError) as failed:
        raise SealError("the sealed stream header does not open") from failed
    while True:
        frame = source.read(chunk + _TAG_BYTES)
        if len(frame) < _TAG_BYTES:
            raise SealError("truncated sealed data: the final chunk is missing")
        try:
            block, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, frame, associated)
        except nacl.exceptions.CryptoError as failed:
            raise SealError(
                "a sealed chunk does not open: altered, reordered, or its header changed"
            ) from failed
        sink.write(block)
        if tag == _FINAL:
            break
    if source.read(1):
        raise SealError("bytes after the sealed data's final chunk")


def _describe(context: Mapping[str, object]) -> str:
    return (
        f"{context.get('purpose')} of task {context.get('task')} round {context.get('round')} "
        f"by {context.get('sender')}"
    )


def seal_file(
    source: Path, sink: Path, context: Context, recipients: Iterable[str], chunk: int = CHUNK
) -> None:
    with source.open("rb") as src, sink.open("wb") as dst:
        seal_stream(src, dst, context, recipients, chunk)


def open_file(source: Path, sink: Path, account: Keypair, expected: Context) -> None:
    """`open_stream` from file to file; `sink` is removed when the envelope does not open."""
    try:
        with source.open("rb") as src, sink.open("wb") as dst:
            open_stream(src, dst, account, expected)
    except BaseException:
        sink.unlink(missing_ok=True)
        raise


def seal_bytes(data: bytes, context: Context, recipients: Iterable[str], chunk: int = CHUNK) -> bytes:
    sink = io.BytesIO()
    seal_stream(io.BytesIO(data), sink, context, recipients, chunk)
    return sink.getvalue()


def open_bytes(data: bytes, account: Keypair, expected: Context) -> bytes:
    sink = io.BytesIO()
    open_stream(io.BytesIO(data), sink, account, expected)
    return sink.getvalue()
