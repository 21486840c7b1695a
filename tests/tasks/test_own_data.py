"""An organisation's own task on the real devnet and Kubo: `dml task init` and `pack` from CSV files,
workers with CSV and Parquet shares in their data catalogues, the referee judging on the creator's
sealed validation set and never on bundled data, and refusals before anything goes on chain."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from coordinator.federation.datasets import TaskDataError, judging_sets
from coordinator.federation.runner import run_task
from coordinator.federation.status import read_rounds
from coordinator.federation.tasks import load_task
from decentralml import codec, crypto, data, kinds, samples
from decentralml.content import ContentStore
from decentralml.privacy import sealing
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE
from decentralml_bindings.types import ResultSubmissionStatus
from support.devnet import Devnet, Ipfs
from support.factories import InProcess, create_own_task, init_and_pack
from worker.catalogue import Catalogue
from worker.daemon import WorkerDaemon, WorkerSettings
from worker.trainer import Trainer

WORKERS = (BOB, CHARLIE, DAVE)


@pytest.fixture
def no_bundled_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any read of a bundled demo source fails the test."""

    def refuse(seed: int) -> data.Splits:
        raise AssertionError("the coordinator read bundled demo data for a task that names its own")

    for name in data.DEMO_SPLITS:
        monkeypatch.setitem(data.DEMO_SPLITS, name, refuse)


@pytest.fixture
def shares(tmp_path: Path) -> samples.SampleFiles:
    return samples.tabular_files(tmp_path / "data", ["csv", "parquet", "csv"], seed=1)


@pytest.mark.devnet
def test_an_own_csv_task_is_judged_on_the_creators_sealed_sets_and_pays_its_workers(
    chain: DecentralMl,
    store: ContentStore,
    shares: samples.SampleFiles,
    tmp_path: Path,
    no_bundled_data: None,
) -> None:
    # Prepare: Alice makes and publishes the task; three workers map "cancer" to their own files.
    cid, sha256 = init_and_pack(store, tmp_path / "task", shares, crypto.sealing_key_hex(FERDIE))
    task_id = create_own_task(chain, cid, sha256)
    manifest = load_task(chain, store, task_id)
    trainers = []
    for key, share in zip(WORKERS, shares.shares, strict=True):
        chain.submit(calls.assign_task(task_id), key)
        share_data = Catalogue.parse([f"cancer={share}"]).data_for(manifest)
        trainers.append(Trainer(chain, store, key, share_data, tmp_path / key.ss58_address))
    before = {k.ss58_address: chain.free_and_reserved(k.ss58_address)[0] for k in WORKERS}

    # Execute
    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task_id, tmp_path / "fed")

    # Assert: three rounds committed, every honest update accepted and paid.
    assert [len(o.accepted) for o in outcomes] == [3, 3, 3]
    assert all(not o.rejected for o in outcomes)
    for outcome in outcomes:
        for result_id in outcome.accepted:
            result = chain.result(result_id)
            assert result is not None
            assert result.status == ResultSubmissionStatus.ACCEPTED
    for key in WORKERS:
        assert chain.free_and_reserved(key.ss58_address)[0] > before[key.ss58_address]
    logged = read_rounds(tmp_path / "fed", task_id)
    assert [r["status"] for r in logged] == ["committed"] * 3
    last = logged[-1]
    assert (last["metric"], last["test_set"]) == ("accuracy", "test")
    assert set(last["test_metrics"]) == {"loss", "accuracy", "macro_f1", "auroc"}
    assert last["test_metrics"]["accuracy"] > 0.85
    assert last["test_metrics"]["auroc"] > 0.9
    # Everything the task put in IPFS besides its public manifest, initial weights and (release:
    # none) its models holds no plaintext: every update is sealed, the held-out sets too.
    assert manifest.privacy.sealed
    rows = [line for line in shares.validation.read_bytes().splitlines()[1:6] if line]
    rows += [line for share in shares.shares[:1] for line in share.read_bytes().splitlines()[1:6] if line]
    stored = [store.get(manifest.data.validation.cid, manifest.data.validation.sha256)]  # type: ignore[union-attr]
    for outcome in outcomes:
        for result_id in [*outcome.accepted, *outcome.rejected]:
            result = chain.result(result_id)
            assert result is not None
            stored.append(store.get(result.cid, result.hash))
    assert len(stored) == 1 + 9
    for blob in stored:
        assert codec.MAGIC not in blob
        assert not any(row in blob for row in rows)
    assert all(sealing.is_sealed(blob) for blob in stored[1:])
    # The metrics are the creator's test set's: recompute them from the committed model.
    sets = judging_sets(manifest, store, FERDIE)
    assert len(sets.test) == len(kinds.read(manifest.data.schema_of(), shares.test))


@pytest.mark.devnet
def test_the_bundle_in_ipfs_holds_no_plaintext_and_only_the_validator_opens_it(
    chain: DecentralMl, store: ContentStore, shares: samples.SampleFiles, tmp_path: Path,
) -> None:  # fmt: skip
    cid, sha256 = init_and_pack(store, tmp_path / "task", shares, crypto.sealing_key_hex(FERDIE))
    task_id = create_own_task(chain, cid, sha256, rounds=1)
    manifest = load_task(chain, store, task_id)
    assert manifest.data.validation is not None
    schema = manifest.data.schema_of()
    plain = kinds.raw_to_bytes(kinds.read(schema, shares.validation))
    raw = kinds.read(schema, shares.validation)
    bundle_bytes = store.get(cid, sha256)
    sealed = store.get(manifest.data.validation.cid, manifest.data.validation.sha256)

    # Nothing a reader of IPFS gets holds the plaintext, its values, or the CSV's rows.
    csv_text = shares.validation.read_bytes()
    for blob in (bundle_bytes, sealed):
        assert plain not in blob
        assert raw.x.tobytes()[:64] not in blob
        assert csv_text.splitlines()[1] not in blob
    assert len(sealed) == len(plain) + crypto.SEAL_OVERHEAD  # its size is all it tells
    # Only the validator's key opens it; a worker's or the creator's does not.
    assert crypto.open_sealed(sealed, FERDIE) == plain
    for other in (ALICE, BOB):
        with pytest.raises(crypto.SealError):
            crypto.open_sealed(sealed, other)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(crypto.SealError):
        crypto.open_sealed(bytes(tampered), FERDIE)
    # A validation set sealed to someone else is refused before any round, saying why.
    with pytest.raises(TaskDataError, match="sealed to"):
        judging_sets(manifest, store, BOB)


@pytest.mark.devnet
def test_a_worker_refuses_data_that_does_not_fit_before_claiming(
    devnet: Devnet, ipfs_daemon: Ipfs, chain: DecentralMl, store: ContentStore, shares: samples.SampleFiles,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    cid, sha256 = init_and_pack(store, tmp_path / "task", shares, crypto.sealing_key_hex(FERDIE))
    task_id = create_own_task(chain, cid, sha256, rounds=1)
    broken = tmp_path / "broken.csv"
    lines = shares.shares[0].read_text().splitlines()
    header = lines[0].split(",")
    drop = header.index('"mean radius"') if '"mean radius"' in header else 0
    broken.write_text(
        "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines)
    )
    empty = tmp_path / "empty.csv"
    empty.write_text(lines[0] + "\n")

    def worker(path: Path, key: str) -> WorkerDaemon:
        settings = WorkerSettings(
            key=key, chain_url=devnet.url, ipfs_api=ipfs_daemon.api, state_dir=str(tmp_path / key[2:]),
            data=[f"cancer={path}"],
        )  # fmt: skip
        return WorkerDaemon(settings)

    with caplog.at_level(logging.ERROR):
        missing_column = worker(broken, "//Bob").suitable(task_id)
        no_rows = worker(empty, "//Charlie").suitable(task_id)
        unmapped = WorkerDaemon(
            WorkerSettings(
                key="//Dave",
                chain_url=devnet.url,
                ipfs_api=ipfs_daemon.api,
                state_dir=str(tmp_path / "d"),
                data=[f"other={shares.shares[1]}"],
            )
        ).suitable(task_id)
    fits = worker(shares.shares[2], "//Eve").suitable(task_id)

    assert (missing_column, no_rows, unmapped) == (None, None, None)
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert str(broken) in messages
    assert "mean radius" in messages
    assert "expected" in messages
    assert str(empty) in messages
    assert "add --data cancer=PATH" in messages
    assert fits is not None
    for key in (BOB, CHARLIE, DAVE):  # nothing went on chain
        assert chain.assignment(task_id, key.ss58_address) is None


@pytest.mark.devnet
def test_task_init_seals_the_validation_set_to_every_committee_member(
    ipfs_daemon: Ipfs, store: ContentStore, shares: samples.SampleFiles, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from coordinator.cli import main
    from decentralml.bundle import open_bundle
    from decentralml.privacy.recipients import update_recipients
    from support.factories import dml_json

    members = (FERDIE, DAVE, CHARLIE)
    statements = []
    for member in members:
        path = tmp_path / f"{member.ss58_address[:8]}.json"
        path.write_text(json.dumps(crypto.sealing_statement(member)))
        statements.append(path)
    common = [
        "--kind", "tabular", "--label", samples.LABEL, "--data", str(shares.shares[0]),
        "--validation", str(shares.validation), "--dataset", "cancer", "--hidden", "8",
    ]  # fmt: skip

    def init(folder: str, *extra: str) -> list[str]:
        return ["--key", "//Alice", "task", "init", str(tmp_path / folder), *common, *extra]

    pairs = zip(members, statements, strict=True)
    committee = [a for m, s in pairs for a in ("--validator", m.ss58_address, "--sealing-statement", str(s))]

    # Act: a committee of three, its members' signed statements given in any order.
    dml_json(*init("committee", *committee)[2:])
    # The text output says what was sealed, and that without --test the validation set scores rounds.
    assert main(["--coordinator", "http://127.0.0.1:9", *init("texted", *committee)]) == 0
    said = capsys.readouterr().out
    assert "validation (also the test set: no --test given) examples to" in said
    assert (
        main(["--coordinator", "http://127.0.0.1:9", *init("tested", *committee, "--test", str(shares.test))])
        == 0
    )
    assert " validation and " in capsys.readouterr().out
    # Without --dataset, the name workers map is the task folder's (not the creator's file's stem).
    unnamed = [a for a in init("Heart rate (2026)", *committee) if a not in ("--dataset", "cancer")]
    assert dml_json(*unnamed[2:])["dataset"] == "Heart-rate-2026"
    packed = dml_json("task", "pack", str(tmp_path / "committee"), "--ipfs-api", store.api)
    manifest = open_bundle(store, packed["bundle_cid"], packed["bundle_sha256"], ALICE.ss58_address)

    # Assert: one sealed copy per member, each opened only by its member, all the same set;
    # updates are sealed to all three.
    validation = manifest.data.validation
    assert validation is not None
    assert [c.recipient for c in [validation, *validation.copies]] == [
        crypto.sealing_key_hex(m) for m in members
    ]
    opened = [judging_sets(manifest, store, member).validation for member in members]
    for other in opened[1:]:
        assert other.x.tobytes() == opened[0].x.tobytes()
    with pytest.raises(TaskDataError, match="sealed to"):
        judging_sets(manifest, store, BOB)
    assert len(update_recipients(manifest.privacy, [m.ss58_address for m in members])) == 3

    # Refused with one line and nothing written: a member without a statement, a statement for
    # someone who is not a member, a member named twice, keys that do not match the members, keys
    # that are not keys.
    cases = {
        "no-statement": ([], "no sealing key for validator"),
        "stranger": ([*committee, "--sealing-statement", str(tmp_path / "eve.json")], "not a --validator"),
        "twice": ([*committee, "--validator", FERDIE.ss58_address], "given twice"),
        "keys": ([*committee, "--sealing-key", crypto.sealing_key_hex(FERDIE)], "give one per validator"),
        # Keys no box can be sealed to (all zeros: a low-order point) or that are not keys at all.
        "zero-keys": ([*committee, *["--sealing-key", "0x" + "00" * 32] * 3], "not a usable sealing key"),
        "short-keys": ([*committee, *["--sealing-key", "0x12"] * 3], "0x and 64 hex digits"),
    }
    (tmp_path / "eve.json").write_text(json.dumps(crypto.sealing_statement(EVE)))
    for folder, (extra, message) in cases.items():
        args = init(folder, *extra)
        if folder == "no-statement":  # the last member's statement left out
            args = init(folder, *committee[:-4], "--validator", CHARLIE.ss58_address)
        assert main(["--coordinator", "http://127.0.0.1:9", *args]) == 1
        err = capsys.readouterr().err
        assert message in err, err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / folder).exists()


def test_task_init_sets_the_outer_optimizer_and_sparse_updates_or_refuses_in_one_line(
    shares: samples.SampleFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coordinator.cli import main
    from decentralml.manifest import AggregationSpec

    common = [
        "--kind", "tabular", "--label", samples.LABEL, "--data", str(shares.shares[0]),
        "--validation", str(shares.validation), "--dataset", "cancer", "--hidden", "8",
        "--validator", FERDIE.ss58_address, "--sealing-key", crypto.sealing_key_hex(FERDIE),
    ]  # fmt: skip

    def init(folder: str, *extra: str) -> int:
        return main(["--key", "//Alice", "task", "init", str(tmp_path / folder), *common, *extra])

    # Act: the defaults, then DiLoCo's outer optimizer with sparse 8-bit updates.
    assert init("plain") == 0
    assert init("diloco", "--outer-lr", "0.7", "--outer-momentum", "0.8", "--update-encoding", "sparse_int8",
                "--update-density", "0.05") == 0  # fmt: skip
    assert init("signs", "--update-encoding", "sign1", "--model-encoding", "sign1") == 0
    capsys.readouterr()
    plain = json.loads((tmp_path / "plain" / "manifest.json").read_text())
    diloco = json.loads((tmp_path / "diloco" / "manifest.json").read_text())

    # Assert: the manifest says so, in the shape the manifest reads.
    assert "aggregation" not in plain
    assert "update_encoding" not in plain
    assert diloco["aggregation"] == {"outer": {"lr": 0.7, "momentum": 0.8, "nesterov": True}}
    assert (diloco["update_encoding"], diloco["update_density"]) == ("sparse_int8", 0.05)
    assert AggregationSpec.model_validate(diloco["aggregation"]).outer is not None
    signs = json.loads((tmp_path / "signs" / "manifest.json").read_text())
    assert (signs["update_encoding"], signs["model_encoding"]) == ("sign1", "sign1")
    assert "model_encoding" not in plain
    assert "update_density" not in signs
    # Refused with one line, nothing written.
    cases = {
        "density-alone": (["--update-density", "0.1"], "for --update-encoding sparse_int8 only"),
        "density-zero": (["--update-encoding", "sparse_int8", "--update-density", "0"], "in (0, 1]"),
        "density-huge": (["--update-encoding", "sparse_int8", "--update-density", "1e9"], "in (0, 1]"),
        "density-signs": (["--update-encoding", "sign1", "--update-density", "0.1"], "sparse_int8 only"),
        "momentum-alone": (["--outer-momentum", "0.9"], "needs --outer-lr"),
        "momentum-one": (["--outer-lr", "0.7", "--outer-momentum", "1"], "--outer-lr/--outer-momentum"),
        "lr-negative": (["--outer-lr", "-1"], "--outer-lr/--outer-momentum"),
    }
    for folder, (extra, message) in cases.items():
        assert init(folder, *extra) == 1, folder
        err = capsys.readouterr().err
        assert message in err, err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / folder).exists()
