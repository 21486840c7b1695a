"""Language-model tasks: a small transformer trained federatedly from the Python standard library's
source, on the devnet with real Kubo, refereed by its validation loss; text generated only from a
model the task's release rule allows; the text kind's files and sealed form checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from coordinator.federation.tasks import initial_manifest
from decentralml import bundle, crypto, kinds
from decentralml.content import ContentStore
from decentralml.data import DataSpec, SealedAsset, partition, stdlib_sources
from decentralml.kinds import text
from decentralml.kinds.schema import ContentRef, DataMismatch, TextSchema
from decentralml.lm.tokenizer import train_tokenizer
from decentralml.lm.transformer import TransformerSpec
from decentralml.manifest import ManifestError
from decentralml.models import ModelSpec
from decentralml.training import TrainSpec
from decentralml_bindings.dev import ALICE, FERDIE
from support.devnet import ROOT

SMALL = TransformerSpec(vocab_size=257, context=64, layers=2, heads=2, width=64)
MODEL = ModelSpec(architecture="transformer", input_shape=[64], classes=257, transformer=SMALL)
TRAINING = TrainSpec(learning_rate=3e-3, batch_size=16, tokens_per_round=8_192, warmup_steps=2)
DML = [os.environ.get("PYTHON", str(ROOT / ".venv" / "bin" / "python")), "-m", "coordinator.cli"]


def test_text_files_become_token_windows_and_bad_text_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.py").write_text("def f():\n    return 1\n" * 20)
    (folder / "b.txt").write_text("déjà vu — 東京\n" * 20)
    lines = tmp_path / "corpus.jsonl"
    lines.write_text("\n".join(json.dumps({"text": f"line {i} " * 10}) for i in range(20)) + "\n")
    schema = TextSchema(context=16)

    split = kinds.load(schema, folder)
    from_lines = kinds.load(schema, lines)
    sealed = kinds.raw_from_bytes(schema, kinds.raw_to_bytes(kinds.read(schema, folder)), "sealed")

    assert split.x.shape[1] == 17
    assert split.x.dtype == np.int64
    assert int(split.x.max()) <= 256
    assert len(from_lines) > 0
    assert text.documents_of(sealed) == text.documents_of(kinds.read(schema, folder))
    (folder / "bad.txt").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(DataMismatch, match=r"bad\.txt"):
        kinds.load(schema, folder)
    (tmp_path / "missing.jsonl").write_text('{"other": "x"}\n')
    with pytest.raises(DataMismatch, match="text"):
        kinds.load(schema, tmp_path / "missing.jsonl")
    (tmp_path / "short.txt").write_text("tiny")
    with pytest.raises(DataMismatch, match="tokens"):
        kinds.load(schema, tmp_path / "short.txt")
    with pytest.raises(DataMismatch, match=r"UTF-8|ends"):
        text.from_arrays(schema, np.frombuffer(b"\xff\xff", dtype=np.uint8), np.array([2]), "forged")
    with pytest.raises(ValueError, match="257"):
        TextSchema(vocab_size=300)
    with pytest.raises(ValueError, match="input_shape"):
        ModelSpec(architecture="transformer", input_shape=[32], classes=257, transformer=SMALL)


def test_workers_hold_whole_modules_of_the_standard_library() -> None:
    spec = DataSpec(dataset="python-stdlib", parts=4)
    shares = [partition(spec, part) for part in range(4)]
    assert all(len(s) > 100 for s in shares)
    assert "def " in stdlib_sources()["json"]
    # Disjoint: no window of one share appears in another.
    seen = [{row.tobytes() for row in s.x[:200]} for s in shares]
    assert all(not (seen[i] & seen[j]) for i in range(4) for j in range(i + 1, 4))


@pytest.mark.devnet
def test_a_bpe_tokenizer_travels_as_a_hash_pinned_asset(store: ContentStore) -> None:
    # Prepare: a creator's own text task with a BPE tokenizer trained on its text, the tokenizer in
    # IPFS and named by hash in the signed manifest, the validation text sealed to the validator.
    corpus = [stdlib_sources()["json"], stdlib_sources()["csv"]]
    tokenizer = train_tokenizer(corpus, 320)
    stored = store.put(tokenizer.to_bytes())
    schema = TextSchema(
        tokenizer=ContentRef(cid=stored.cid, sha256=stored.sha256),
        vocab_size=tokenizer.vocab_size,
        context=64,
    )
    sealed = store.put(
        crypto.seal(
            kinds.raw_to_bytes(text.raw_of([stdlib_sources()["shlex"]])), crypto.sealing_key_hex(FERDIE)
        )
    )
    transformer = SMALL.model_copy(update={"vocab_size": tokenizer.vocab_size})
    model = MODEL.model_copy(update={"classes": tokenizer.vocab_size, "transformer": transformer})
    data = DataSpec(
        dataset="own-code",
        inputs=schema,
        validation=SealedAsset(
            cid=sealed.cid, sha256=sealed.sha256, recipient=crypto.sealing_key_hex(FERDIE)
        ),
    )
    manifest = initial_manifest(store, "bpe", model, data=data)
    signed = store.put(bundle.sign(manifest, ALICE))

    # Execute: a worker opens the bundle (fetching and checking the tokenizer), then tokenises.
    opened = bundle.open_bundle(store, signed.cid, signed.sha256, ALICE.ss58_address, sealed=False)
    windows = kinds.prepare(schema, text.raw_of(corpus))

    # Assert: the same tokenizer everywhere; forged tokenizer bytes are refused, in a bundle too.
    assert bundle.assets(opened)["tokenizer"] == (stored.cid, stored.sha256)
    assert text.tokenizer_for(schema).encode("def f():") == tokenizer.encode("def f():")
    assert int(windows.x.max()) < tokenizer.vocab_size
    with pytest.raises(ValueError, match="hash"):
        text.register_tokenizer(stored.sha256, b'{"kind":"bytes"}')
    forged = store.put(train_tokenizer(corpus[:1], 300).to_bytes())
    tampered = manifest.model_copy(
        update={"data": data.model_copy(update={"inputs": schema.model_copy(
            update={"tokenizer": ContentRef(cid=forged.cid, sha256=stored.sha256)})})}
    )  # fmt: skip
    bad = store.put(bundle.sign(tampered, ALICE))
    with pytest.raises(ManifestError, match="tokenizer"):
        bundle.open_bundle(store, bad.cid, bad.sha256, ALICE.ss58_address, sealed=False)
