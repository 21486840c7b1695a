"""Language-model tasks: a small transformer trained federatedly from the Python standard library's
source, on the devnet with real Kubo, refereed by its validation loss; text generated only from a
model the task's release rule allows; the text kind's files and sealed form checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coordinator.federation.tasks import initial_manifest
from decentralml import bundle, crypto, kinds
from decentralml.content import ContentStore, sha256_hex
from decentralml.data import DataSpec, SealedAsset, partition, stdlib_sources
from decentralml.kinds import text
from decentralml.kinds.schema import ContentRef, DataMismatch, TextSchema
from decentralml.lm.tokenizer import train_tokenizer
from decentralml.lm.transformer import TransformerSpec
from decentralml.manifest import ManifestError
from decentralml.models import ModelSpec
from decentralml.privacy import sealing
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


def _corpus(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The creator's own code (a folder), her held-out module (.py) and a worker's share (.jsonl)."""
    sources = stdlib_sources()
    creator = tmp_path / "creator"
    creator.mkdir()
    for name in ("json", "csv", "textwrap"):
        (creator / f"{name}.py").write_text(sources[name])
    held_out = tmp_path / "held_out.py"  # a single source file is one document
    held_out.write_text(sources["shlex"])
    share = tmp_path / "share.jsonl"
    share.write_text("".join(json.dumps({"code": sources[n]}) + "\n" for n in ("fnmatch", "glob", "string")))
    return creator, held_out, share


def _init(folder: Path, creator: Path, held_out: Path, *extra: str) -> int:
    from coordinator.cli import main

    return main([
        "--json", "task", "init", str(folder), "--kind", "text", "--data", str(creator),
        "--validation", str(held_out), "--validator", FERDIE.ss58_address,
        "--sealing-key", crypto.sealing_key_hex(FERDIE), "--dataset", "own-code",
        "--vocab-size", "400", "--context", "32", "--layers", "1", "--heads", "2", "--model-width", "32",
        *extra,
    ])  # fmt: skip


@pytest.mark.devnet
def test_task_init_trains_the_creators_bpe_tokenizer_which_pack_pins_and_everyone_uses(
    ipfs_daemon: Any, store: ContentStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coordinator.cli import main
    from coordinator.federation.datasets import judging_sets
    from decentralml.lm.tokenizer import TextTokenizer
    from decentralml.models import build
    from decentralml.training import score, train
    from worker.catalogue import Catalogue

    # Prepare: the creator's task folder from her own code, her tokenizer trained on it.
    creator, held_out, share = _corpus(tmp_path)
    folder = tmp_path / "task"
    assert _init(folder, creator, held_out, "--field", "code", "--judge-windows", "16") == 0
    written = json.loads((folder / "manifest.json").read_text())
    inputs = written["data"]["inputs"]
    tokenizer = TextTokenizer.from_bytes((folder / "tokenizer.json").read_bytes())
    trained = train_tokenizer(text.documents_of(text.read(TextSchema(), creator, "folder")), 400)

    # Execute: pack puts the tokenizer in IPFS; a worker opens the bundle, reads its own JSONL
    # share; the validator opens the sealed held-out text.
    capsys.readouterr()
    assert (
        main(["--json", "--key", "//Alice", "task", "pack", str(folder), "--ipfs-api", ipfs_daemon.api]) == 0
    )
    packed = json.loads(capsys.readouterr().out)
    manifest = bundle.open_bundle(store, packed["bundle_cid"], packed["bundle_sha256"], ALICE.ss58_address)
    schema = manifest.data.schema_of()
    worker = Catalogue.parse([f"own-code={share}"]).data_for(manifest)
    sets = judging_sets(manifest, store, FERDIE)
    again = judging_sets(manifest, store, FERDIE)

    # Assert: one tokenizer (deterministic from the creator's text), pinned by hash in the bundle;
    # it compresses code; the worker's windows and the validation windows use its ids; a model of
    # the manifest's size trains on them and lowers validation loss.
    assert tokenizer.to_bytes() == trained.to_bytes()
    assert inputs["tokenizer"]["file"] == "tokenizer.json"
    assert isinstance(schema, TextSchema)
    assert isinstance(schema.tokenizer, ContentRef)
    pinned = sha256_hex((folder / "tokenizer.json").read_bytes())
    assert schema.tokenizer.sha256 == inputs["tokenizer"]["sha256"] == pinned
    assert schema.vocab_size == tokenizer.vocab_size == manifest.model.classes
    assert manifest.update_encoding == "float16_delta"
    code = stdlib_sources()["shlex"]
    assert len(tokenizer.encode(code)) < 0.6 * len(code.encode())
    assert worker.x.shape[1] == 33
    assert int(worker.x.max()) < tokenizer.vocab_size
    # The referee judges on a fixed sample of 16 held-out windows, the same on every restart, and
    # reports on all of them.
    held_out_windows = kinds.prepare(schema, text.raw_of([code]))
    assert len(sets.test) == len(held_out_windows) > 16
    assert len(sets.validation) == manifest.validation.max_examples == 16
    assert np.array_equal(sets.validation.x, again.validation.x)
    assert {r.tobytes() for r in sets.validation.x} <= {r.tobytes() for r in held_out_windows.x}
    model = build(manifest.model, 0)
    before = score(model, sets.validation, "language_modeling")["loss"]
    train(model, worker, manifest.training, "language_modeling", 1)
    assert score(model, sets.validation, "language_modeling")["loss"] < before


@pytest.mark.devnet
def test_task_init_for_text_refuses_bad_input_in_one_line_and_pack_refuses_a_swapped_tokenizer(
    ipfs_daemon: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coordinator.cli import main

    creator, held_out, _ = _corpus(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.py").write_bytes(b"\xff\xfe not utf-8" * 100)
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("x = 1\n")
    cases = {
        "vocab": (creator, held_out, ["--vocab-size", "100"], "257"),
        "bytes": (bad, held_out, [], "UTF-8"),
        "short": (creator, tiny, [], "tokens"),
        "architecture": (creator, held_out, ["--architecture", "cnn"], "transformer"),
        "heads": (creator, held_out, ["--heads", "3"], "heads"),
        # 4,096 tokens a round in batches of 16 windows of 32: 8 steps, so the rate would never peak.
        "warmup": (creator, held_out, ["--tokens-per-round", "4096", "--warmup-steps", "8"], "takes 8 steps"),
        "warmup-negative": (creator, held_out, ["--warmup-steps", "-1"], "give 0 .. 127"),
    }
    for name, (data, validation, extra, said) in cases.items():
        folder = tmp_path / name
        capsys.readouterr()
        assert _init(folder, data, validation, *extra) == 1, name
        err = capsys.readouterr().err.strip()
        assert said in err, (name, err)
        assert len(err.splitlines()) == 1, (name, err)
        assert not folder.exists(), name

    # The warmup: 10 steps by default, a quarter of a short round's, or what the creator gives.
    for name, extra, warmup in (
        ("default", [], 10),
        ("short", ["--tokens-per-round", "4096"], 2),
        ("given", ["--tokens-per-round", "4096", "--warmup-steps", "3"], 3),
    ):
        assert _init(tmp_path / f"warmup-{name}", creator, held_out, *extra) == 0, name
        written = json.loads((tmp_path / f"warmup-{name}" / "manifest.json").read_text())
        assert written["training"]["warmup_steps"] == warmup, name

    # A tokenizer swapped after init is refused by pack, before anything is signed.
    folder = tmp_path / "task"
    assert _init(folder, creator, held_out) == 0
    (folder / "tokenizer.json").write_bytes(train_tokenizer(["other text " * 50], 300).to_bytes())
    capsys.readouterr()
    assert main(["--key", "//Alice", "task", "pack", str(folder), "--ipfs-api", ipfs_daemon.api]) == 1
    assert "hashes to" in capsys.readouterr().err
    assert not (folder / "bundle.json").exists()


@pytest.mark.devnet
def test_an_own_text_task_with_its_bpe_tokenizer_is_refereed_and_committed_on_chain(
    chain: Any, ipfs_daemon: Any, store: ContentStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coordinator.cli import main
    from coordinator.federation.runner import run_task
    from coordinator.federation.tasks import load_task
    from decentralml_bindings import calls
    from decentralml_bindings.dev import BOB, CHARLIE
    from support.factories import InProcess, create_own_task
    from worker.catalogue import Catalogue
    from worker.trainer import Trainer

    # Prepare: Alice's task from her own code by `task init` and `pack`; Bob and Charlie each hold
    # other modules, one as a JSONL file, one as a folder.
    creator, held_out, bob_share = _corpus(tmp_path)
    charlie_share = tmp_path / "charlie"
    charlie_share.mkdir()
    for name in ("heapq", "pprint"):
        (charlie_share / f"{name}.py").write_text(stdlib_sources()[name])
    folder = tmp_path / "task"
    statement = tmp_path / "ferdie-sealing.json"  # Ferdie's signed key: updates are sealed to him
    statement.write_text(json.dumps(crypto.sealing_statement(FERDIE)))
    assert _init(
        folder, creator, held_out, "--field", "code", "--release", "none", "--tokens-per-round", "4096",
        "--learning-rate", "0.003", "--judge-windows", "64", "--sealing-statement", str(statement),
    ) == 0  # fmt: skip
    capsys.readouterr()
    pack = ["--json", "--key", "//Alice", "task", "pack", str(folder), "--ipfs-api", ipfs_daemon.api]
    assert main(pack) == 0
    packed = json.loads(capsys.readouterr().out)
    task_id = create_own_task(chain, packed["bundle_cid"], packed["bundle_sha256"], rounds=3, slots=2)
    manifest = load_task(chain, store, task_id)
    trainers = []
    for key, share in ((BOB, bob_share), (CHARLIE, charlie_share)):
        chain.submit(calls.assign_task(task_id), key)
        data = Catalogue.parse([f"own-code={share}"]).data_for(manifest)
        trainers.append(Trainer(chain, store, key, data, tmp_path / key.ss58_address))

    # Execute: three rounds, refereed on Alice's sealed held-out module.
    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task_id, tmp_path / "fed")

    # Assert: every round committed by hash with both float16-delta updates accepted, and the
    # validation loss (in the tokenizer's ids) fell round over round.
    assert [len(o.accepted) for o in outcomes] == [2, 2, 2]
    assert chain.task(task_id).committed_rounds == 3
    losses = [o.validation_loss for o in outcomes]
    assert losses[0] > losses[1] > losses[2], losses
    # Nothing the task put in IPFS for its updates and held-out text holds the corpus in the clear.
    assert manifest.privacy.sealed
    corpus = [line.encode() for line in held_out.read_text().splitlines() if len(line.strip()) > 30]
    corpus += [line.encode() for line in stdlib_sources()["heapq"].splitlines() if len(line.strip()) > 30]
    assert len(corpus) > 20
    validation = manifest.data.validation
    assert validation is not None
    blobs = [store.get(validation.cid, validation.sha256)]
    for outcome in outcomes:
        for result_id in outcome.accepted:
            result = chain.result(result_id)
            blobs.append(store.get(result.cid, result.hash))
    assert all(sealing.is_sealed(blob) for blob in blobs[1:])
    for blob in blobs:
        assert not any(line in blob for line in corpus)
