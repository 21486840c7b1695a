"""Sealed envelopes: only recipients open them, only in their context, and any change is refused."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
from substrateinterface import Keypair

from decentralml.crypto import SealError, sealing_key_hex, sealing_statement
from decentralml.manifest import PrivacySpec, SealingStatement
from decentralml.privacy import sealing
from decentralml.privacy.recipients import model_recipients, update_recipients
from decentralml.privacy.sealing import Context, open_bytes, seal_bytes
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, EVE, FERDIE

CONTEXT = Context("update", 3, 2, BOB.ss58_address)


def sealed(data: bytes = b"weights" * 1000, chunk: int = 4096) -> bytes:
    return seal_bytes(data, CONTEXT, [sealing_key_hex(FERDIE), sealing_key_hex(EVE)], chunk)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 100_003])
def test_every_recipient_opens_every_size(size: int) -> None:
    data = os.urandom(size)
    envelope = seal_bytes(data, CONTEXT, [sealing_key_hex(FERDIE), sealing_key_hex(EVE)], 4096)

    assert open_bytes(envelope, FERDIE, CONTEXT) == data
    assert open_bytes(envelope, EVE, CONTEXT) == data
    assert size < 16 or data[:16] not in envelope


def test_a_reader_not_among_the_recipients_cannot_open() -> None:
    with pytest.raises(SealError, match="not sealed to this account"):
        open_bytes(sealed(), CHARLIE, CONTEXT)


@pytest.mark.parametrize(
    "other",
    [
        Context("update", 3, 2, CHARLIE.ss58_address),  # a copier sending Bob's bytes as its own
        Context("update", 3, 3, BOB.ss58_address),  # replayed in a later round
        Context("update", 4, 2, BOB.ss58_address),  # in another task
        Context("model", 3, 2, BOB.ss58_address),  # as another kind of content
    ],
)
def test_a_ciphertext_opens_only_in_its_own_context(other: Context) -> None:
    with pytest.raises(SealError, match="a copied or misdirected ciphertext"):
        open_bytes(sealed(), FERDIE, other)


def test_a_header_rewritten_to_another_context_does_not_open() -> None:
    """The copier rewrites the context in the header to its own account: every chunk is bound to
    the original header, so nothing opens."""
    envelope = sealed()
    forged = envelope.replace(BOB.ss58_address.encode(), CHARLIE.ss58_address.encode())
    assert forged != envelope
    with pytest.raises(SealError, match="does not open"):
        open_bytes(forged, FERDIE, Context("update", 3, 2, CHARLIE.ss58_address))


def test_changed_truncated_or_extended_bytes_are_refused() -> None:
    envelope = sealed()
    flipped = bytearray(envelope)
    flipped[len(envelope) // 2] ^= 1
    for bad, reason in [
        (bytes(flipped), "does not open"),
        (envelope[:-1], "truncated|does not open"),
        (envelope[: len(envelope) // 2], "truncated|does not open"),
        (envelope + b"\0", "after the sealed data|does not open"),
        (envelope + bytes(5000), "after the sealed data|does not open"),
        (b"DMLW1\n" + envelope[6:], "bad magic"),
        (envelope[:10], "truncated"),
    ]:
        with pytest.raises(SealError, match=reason):
            open_bytes(bad, FERDIE, CONTEXT)


def test_chunks_cannot_be_reordered_or_dropped() -> None:
    data = os.urandom(3 * 4096)
    envelope = seal_bytes(data, CONTEXT, [sealing_key_hex(FERDIE)], 4096)
    start = len(envelope) - 3 * (4096 + 17) - 17  # three full chunks and an empty final one
    frames = [envelope[start + i * 4113 : start + (i + 1) * 4113] for i in range(3)]
    swapped = envelope[:start] + frames[1] + frames[0] + frames[2] + envelope[start + 3 * 4113 :]
    dropped = envelope[:start] + frames[0] + frames[2] + envelope[start + 3 * 4113 :]
    for bad in (swapped, dropped):
        with pytest.raises(SealError):
            open_bytes(bad, FERDIE, CONTEXT)


def test_a_huge_header_length_is_refused_before_reading_it() -> None:
    bogus = sealing.MAGIC + (2**31).to_bytes(4, "little") + b"{}"
    with pytest.raises(SealError, match="header length out of range"):
        open_bytes(bogus, FERDIE, CONTEXT)


def test_sealing_needs_a_recipient_and_real_keys() -> None:
    with pytest.raises(SealError, match="at least one recipient"):
        seal_bytes(b"x", CONTEXT, [])
    with pytest.raises(SealError, match="not a sealing key"):
        seal_bytes(b"x", CONTEXT, ["0x" + "zz" * 32])


def test_file_to_file_opening_streams_within_a_few_chunks(tmp_path: Path) -> None:
    """A 24 MiB update seals and opens file to file with a 1 MiB chunk, holding a few chunks at
    most, never the whole update."""
    source, envelope, opened = tmp_path / "update", tmp_path / "sealed", tmp_path / "opened"
    with source.open("wb") as f:
        for _ in range(24):
            f.write(os.urandom(1 << 20))
    tracemalloc.start()
    sealing.seal_file(source, envelope, CONTEXT, [sealing_key_hex(FERDIE)])
    sealing.open_file(envelope, opened, FERDIE, CONTEXT)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert peak < 6 * (1 << 20), f"peak {peak / 2**20:.1f} MiB"
    assert opened.read_bytes() == source.read_bytes()


def test_a_failed_open_leaves_no_partial_plaintext(tmp_path: Path) -> None:
    envelope, opened = tmp_path / "sealed", tmp_path / "opened"
    data = sealed(os.urandom(20_000))
    envelope.write_bytes(data[:-5])
    with pytest.raises(SealError):
        sealing.open_file(envelope, opened, FERDIE, CONTEXT)
    assert not opened.exists()


def statement(key: Keypair) -> SealingStatement:
    return SealingStatement.model_validate(sealing_statement(key))


def test_recipients_are_the_validators_on_chain_with_verified_keys() -> None:
    privacy = PrivacySpec(seal_to=[statement(FERDIE), statement(EVE)], creator=statement(ALICE))
    validators = [EVE.ss58_address, FERDIE.ss58_address]

    assert update_recipients(privacy, validators) == [sealing_key_hex(EVE), sealing_key_hex(FERDIE)]
    assert model_recipients(privacy, validators, ALICE.ss58_address)[-1] == sealing_key_hex(ALICE)
    with pytest.raises(SealError, match="not a validator of the task"):
        update_recipients(privacy, [FERDIE.ss58_address])
    with pytest.raises(SealError, match="no sealing key for validator"):
        update_recipients(PrivacySpec(seal_to=[statement(FERDIE)]), validators)
    with pytest.raises(SealError, match="not " + BOB.ss58_address):
        model_recipients(privacy, validators, BOB.ss58_address)


def test_a_statement_with_a_swapped_key_is_refused() -> None:
    """A creator who puts its own key under the validator's signature gets nothing sealed to it."""
    forged = sealing_statement(FERDIE) | {"sealing_key": sealing_key_hex(ALICE)}
    privacy = PrivacySpec(seal_to=[SealingStatement.model_validate(forged)])
    with pytest.raises(SealError, match="does not verify"):
        update_recipients(privacy, [FERDIE.ss58_address])


def test_streams_report_truncation_in_the_stream_header() -> None:
    envelope = sealed()
    length = int.from_bytes(envelope[6:10], "little")
    head_end = 10 + length
    with pytest.raises(SealError, match="truncated"):
        sealing.open_stream(io.BytesIO(envelope[: head_end + 10]), io.BytesIO(), FERDIE, CONTEXT)
