"""A round refereed on the real devnet with a real Kubo: verdicts and the commit are on chain in one
extrinsic, the committed hash is the sha256 of the bytes in IPFS, poisoned and tampered updates are
rejected and never aggregated, and a manifest whose bytes changed is refused by workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from coordinator.committee.verify import VerifyError, verify_model
from coordinator.federation.referee import Received, Referee, WorkerFailure
from coordinator.federation.runner import run_task
from coordinator.federation.tasks import (
    initial_manifest,
    initial_weights,
    load_task,
)
from decentralml import codec, downlink
from decentralml.content import ContentStore, sha256_hex
from decentralml.data import DataSpec, digits, partition
from decentralml.models import ModelSpec
from decentralml.privacy import sealing
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import BOB, CHARLIE, DAVE, EVE, FERDIE
from decentralml_bindings.types import RejectionReason, ResultSubmissionStatus
from support.factories import InProcess, enlist, publish
from support.liar import NudgingReferee
from worker.trainer import Behaviour, Trainer

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
WORKERS = {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST, DAVE: Behaviour.POISON, EVE: Behaviour.TAMPER}


@pytest.mark.devnet
def test_rounds_are_refereed_and_committed_by_hash(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: Alice publishes a 2-round task judged by Ferdie (the coordinator's key).
    # The aggregate is checked against plain FedAvg, so the stamp unlearning that follows it is off
    # here (tests/learning/test_unlearning.py tests it; the committee tests verify it on chain).
    made = initial_manifest(store, "referee-test", MODEL, data=DataSpec(parts=4))
    made = made.model_copy(update={"validation": made.validation.model_copy(update={"unlearn_steps": 0})})
    task = publish(chain, store, made, rounds=2, workers=4)
    manifest = task.manifest  # private by default: updates and models sealed to Ferdie
    assert manifest.privacy.sealed
    trainers = enlist(chain, store, task, WORKERS, tmp_path)
    referee = Referee(chain, store, FERDIE, digits().validation)
    weights = initial_weights(store, load_task(chain, store, task.task_id))
    balance_before = chain.free_and_reserved(BOB.ss58_address)[0]

    for round_ in (1, 2):
        updates = {t.address: t.train_round(task.task_id, round_, manifest, weights) for t in trainers}
        received = [Received.spool(tmp_path, worker, u.data, u.examples) for worker, u in updates.items()]
        blocks_before = chain.block_number()

        outcome, weights = referee.judge(task.task_id, round_, manifest, weights, received)

        # One extrinsic (one block in instant mode) for all verdicts and the commit.
        assert chain.block_number() == blocks_before + 1
        honest = sorted(updates[k.ss58_address].result_id for k in (BOB, CHARLIE))
        assert outcome.accepted == honest
        assert outcome.rejected == {
            updates[DAVE.ss58_address].result_id: "Outlier",
            updates[EVE.ss58_address].result_id: "HashMismatch",
        }
        # The chain records each verdict's reason and score; payouts follow the scores.
        for worker, reason in ((DAVE, "Outlier"), (EVE, "HashMismatch")):
            result_id = updates[worker.ss58_address].result_id
            verdict = chain.verdict(result_id, FERDIE.ss58_address)
            on_chain = chain.result(result_id)
            assert verdict is not None
            assert on_chain is not None
            assert (verdict.approved, verdict.reason) == (False, RejectionReason(reason))
            assert on_chain.rejection == RejectionReason(reason)
        scores = {r: chain.verdict(r, FERDIE.ss58_address) for r in honest}
        assert max(v.score for v in scores.values() if v) == 1_000_000  # the largest contribution
        task_now = chain.task(task.task_id)
        assert task_now is not None
        assert task_now.paid + task_now.refunded + task_now.escrowed == task_now.deposited
        assert outcome.model_id is not None
        model = chain.model(outcome.model_id)
        assert model is not None
        assert (model.round, list(model.accepted), model.cid, model.hash) == (
            round_,
            honest,
            outcome.model_cid,
            outcome.model_hash,
        )
        stored = model_bytes(store, model, FERDIE)
        assert sha256_hex(stored) == model.hash
        assert sealing.is_sealed(store.fetch(model.cid))
        on_chain_accepted = sorted(
            r
            for u in updates.values()
            if (result := chain.result(r := u.result_id)) and result.status == ResultSubmissionStatus.ACCEPTED
        )
        assert on_chain_accepted == list(model.accepted)
        # The aggregate is the mean of exactly the honest updates: the tampered one never counts.
        honest_weights = [
            codec.decode(
                sealing.open_bytes(
                    updates[k.ss58_address].data,
                    FERDIE,
                    sealing.Context("update", task.task_id, round_, k.ss58_address),
                )
            )
            for k in (BOB, CHARLIE)
        ]
        # Claimed counts are capped at the median claim of the updates that matched their hash.
        claims = [updates[k.ss58_address].examples for k in (BOB, CHARLIE, DAVE)]
        cap = float(np.median(claims))
        counts = [min(updates[k.ss58_address].examples, cap) for k in (BOB, CHARLIE)]
        assert [outcome.counted_examples[updates[k.ss58_address].result_id] for k in (BOB, CHARLIE)] == counts
        # The aggregate weighs the accepted updates alone, capped at their own median claim: a
        # function of the accepted set, so any member (or `dml model verify`) recomputes it.
        accepted_cap = float(np.median([updates[k.ss58_address].examples for k in (BOB, CHARLIE)]))
        weighed = [min(updates[k.ss58_address].examples, accepted_cap) for k in (BOB, CHARLIE)]
        for name, value in codec.decode(stored).items():
            expected = sum(w[name] * n for w, n in zip(honest_weights, weighed, strict=True)) / sum(weighed)
            np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-6)
        # A committee member recomputes the commit from the chain and IPFS alone.
        verified = verify_model(chain, store, FERDIE, outcome.model_id)
        assert verified.match, verified
        assert verified.accepted == honest

    finished = chain.task(task.task_id)
    assert finished is not None
    assert finished.status.value == "Completed"
    assert chain.free_and_reserved(BOB.ss58_address)[0] > balance_before


@pytest.mark.devnet
def test_model_verify_passes_an_honest_commit_and_fails_one_its_committer_changed(
    chain: DecentralMl,
    store: ContentStore,
    devnet_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from coordinator.cli import main

    # Prepare: two 1-round tasks, one committed honestly and one by a committer that nudged
    # the aggregate before committing it (its sealed bytes hash to what it put on chain).
    committed = {}
    for name, kind in (("honest", Referee), ("lying", NudgingReferee)):
        manifest = initial_manifest(store, f"verify-{name}", MODEL, data=DataSpec(parts=2))
        task = publish(chain, store, manifest, rounds=1, workers=2)
        honest = {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}
        trainers = enlist(chain, store, task, honest, tmp_path / name)
        weights = initial_weights(store, task.manifest)
        updates = [t.train_round(task.task_id, 1, task.manifest, weights) for t in trainers]
        received = [
            Received.spool(tmp_path, t.address, u.data, u.examples)
            for t, u in zip(trainers, updates, strict=True)
        ]
        referee = kind(chain, store, FERDIE, digits().validation)
        outcome, _ = referee.judge(task.task_id, 1, task.manifest, weights, received)
        assert len(outcome.accepted) == 2
        assert outcome.model_id is not None
        committed[name] = outcome.model_id
    base = [
        "--json",
        "--chain-url",
        devnet_url,
        "--key",
        "//Ferdie",
        "model",
        "verify",
        "--ipfs-api",
        store.api,
    ]

    # Act + assert: the honest commit matches, from the CLI as from the library.
    assert main([*base, str(committed["honest"])]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["match"], report["stored_match"], report["recomputed_match"]) == (True, True, True)

    # The changed one: its stored bytes are what the chain says, but not the accepted updates'
    # aggregate; the CLI exits 1 and names the hash it recomputed.
    with pytest.raises(SystemExit) as exited:
        main([*base, str(committed["lying"])])
    assert exited.value.code == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["stored_match"], report["recomputed_match"]) == (True, False)
    assert report["recomputed"] != report["on_chain"]

    # Refused: a key the models are not sealed to, a model not on chain (nothing is written).
    blocks = chain.block_number()
    with pytest.raises(VerifyError, match="cannot open"):
        verify_model(chain, store, BOB, committed["honest"])
    with pytest.raises(VerifyError, match="no model"):
        verify_model(chain, store, FERDIE, 10**9)
    assert main([*base, str(10**9)]) != 0
    assert "no model" in capsys.readouterr().err
    assert chain.block_number() == blocks


@pytest.mark.devnet
def test_a_restarted_worker_resends_the_same_update_and_never_submits_twice(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    manifest = initial_manifest(store, "restart-test", MODEL)
    task = publish(chain, store, manifest, rounds=1, workers=2)
    chain.submit(calls.assign_task(task.task_id), BOB)
    weights = initial_weights(store, manifest)
    first = Trainer(chain, store, BOB, partition(manifest.data, 0), tmp_path / "bob").train_round(
        task.task_id, 1, manifest, weights
    )
    blocks = chain.block_number()

    again = Trainer(chain, store, BOB, partition(manifest.data, 0), tmp_path / "bob").train_round(
        task.task_id, 1, manifest, weights
    )

    assert chain.block_number() == blocks, "the restarted worker sent a second extrinsic"
    assert (again.data, again.result_id) == (first.data, first.result_id)


@pytest.mark.devnet
def test_a_restarted_coordinator_resumes_after_the_last_committed_round(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    manifest = initial_manifest(store, "resume-test", MODEL, data=DataSpec(parts=2))
    task = publish(chain, store, manifest, rounds=3, workers=2)
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path)

    with pytest.raises(KeyboardInterrupt):
        run_task(chain, store, FERDIE, InProcess(trainers, stop_after=1), task.task_id, tmp_path / "fed")
    after_crash = chain.task(task.task_id)
    resumed = run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, tmp_path / "fed")

    assert after_crash is not None
    assert after_crash.committed_rounds == 1
    assert [o.round for o in resumed] == [2, 3]
    first = chain.model(chain.round_model(task.task_id, 1) or 0)
    assert resumed[0].model_id is not None
    second = chain.model(resumed[0].model_id)
    assert first is not None
    assert second is not None
    assert second.parent == chain.round_model(task.task_id, 1)
    log = (tmp_path / "fed" / f"task-{task.task_id}" / "rounds.jsonl").read_text().splitlines()
    assert [json.loads(line)["round"] for line in log] == [1, 2, 3]
    assert json.loads(log[-1])["test_accuracy"] > json.loads(log[0])["test_accuracy"]


@pytest.mark.devnet
def test_a_round_committed_but_not_logged_is_rebuilt_from_the_chain(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: round 1 committed on chain, then the coordinator dies before writing its log line.
    manifest = initial_manifest(store, "rebuild-test", MODEL, data=DataSpec(parts=2))
    task = publish(chain, store, manifest, rounds=2, workers=2)
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.POISON}, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_task(chain, store, FERDIE, InProcess(trainers, stop_after=1), task.task_id, tmp_path / "fed")
    path = tmp_path / "fed" / f"task-{task.task_id}" / "rounds.jsonl"
    written = json.loads(path.read_text().splitlines()[0])
    path.write_text("")  # the line was never written

    # Execute: the coordinator starts again.
    resumed = run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, tmp_path / "fed")

    # Assert: round 1 is back in the log, as the chain has it; round 2 ran after it.
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["round"] for r in records] == [1, 2]
    assert [o.round for o in resumed] == [2]
    rebuilt = records[0]
    model = chain.model(chain.round_model(task.task_id, 1) or 0)
    assert model is not None
    assert rebuilt["rebuilt_from_chain"] is True
    assert (rebuilt["model_cid"], rebuilt["model_hash"]) == (model.cid, model.hash)
    assert rebuilt["accepted"] == list(model.accepted)
    results = chain.round_results(task.task_id, 1)
    assert sorted([*rebuilt["accepted"], *map(int, rebuilt["rejected"])]) == sorted(results.values())
    assert set(rebuilt["rejected"].values()) <= {"Outlier", "LowTrust", "FailedValidation"}
    # Its report is recomputed from the committed model: the same figures the lost line had.
    assert (rebuilt["metric"], rebuilt["test_set"]) == (written["metric"], written["test_set"])
    assert rebuilt["test_metrics"] == pytest.approx(written["test_metrics"])
    assert rebuilt["test_accuracy"] == pytest.approx(written["test_accuracy"])


class LosesOne(InProcess):
    """Every trainer sends its result on chain, but `lost`'s update never reaches the coordinator
    (its worker died between `send_task_result` and its Flower reply)."""

    def __init__(self, trainers: list[Trainer], lost: str) -> None:
        super().__init__(trainers)
        self.lost = lost

    def train_round(
        self,
        task_id: int,
        round_: int,
        weights: codec.Weights,
        spool: Path,
        delta: downlink.Delta | None = None,
    ) -> Iterator[Received | WorkerFailure]:
        for item in super().train_round(task_id, round_, weights, spool, delta):
            if isinstance(item, Received) and item.worker == self.lost:
                item.path.unlink()
                continue
            yield item


@pytest.mark.devnet
def test_a_result_whose_update_never_arrived_is_fetched_from_ipfs_and_judged(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    manifest = initial_manifest(store, "orphan-test", MODEL, data=DataSpec(parts=3))
    task = publish(chain, store, manifest, rounds=1, workers=3)
    workers = {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST, DAVE: Behaviour.HONEST}
    trainers = enlist(chain, store, task, workers, tmp_path)
    dave_before = chain.free_and_reserved(DAVE.ss58_address)[0]

    [outcome] = run_task(
        chain, store, FERDIE, LosesOne(trainers, DAVE.ss58_address), task.task_id, tmp_path / "fed"
    )

    dave = chain.result_of(task.task_id, 1, DAVE.ss58_address)
    assert dave is not None
    assert outcome.fetched == [dave]
    assert dave in outcome.accepted
    assert len(outcome.accepted) == 3
    result = chain.result(dave)
    assert result is not None
    assert result.status == ResultSubmissionStatus.ACCEPTED
    assert chain.free_and_reserved(DAVE.ss58_address)[0] > dave_before
    logged = json.loads((tmp_path / "fed" / f"task-{task.task_id}" / "rounds.jsonl").read_text())
    assert (logged["workers_replied"], logged["fetched"]) == (2, [dave])
