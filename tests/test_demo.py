"""The whole system through Flower's deployment engine (the demo's own orchestration): devnet, Kubo,
the coordinator with its SuperLink, and `dml worker run` daemons as SuperNodes, one poisoned.

For every round: the hash committed on chain is the sha256 of the bytes IPFS holds under the
committed CID, and the results listed in the commit are exactly those accepted on chain."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from decentralml.content import ContentStore, sha256_hex
from decentralml.crypto import SealError
from decentralml.privacy import sealing
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl
from decentralml_bindings.dev import ALICE, FERDIE
from decentralml_bindings.types import ResultSubmissionStatus
from scripts import demo
from support.devnet import ROOT


@pytest.mark.devnet
def test_federated_rounds_through_flower_are_committed_by_hash(tmp_path: Path) -> None:
    args = demo.parse(
        [
            "--free-ports",
            "--rounds",
            "2",
            "--workers",
            "2",
            "--poisoned",
            "1",
            "--summary",
            str(tmp_path / "s.json"),
        ]
    )
    checked: list[int] = []

    def inspect(chain: DecentralMl, store: ContentStore, task_id: int) -> None:
        task = chain.task(task_id)
        assert task is not None
        for round_ in range(1, task.rounds + 1):
            model_id = chain.round_model(task_id, round_)
            assert model_id is not None
            model = chain.model(model_id)
            assert model is not None
            assert sealing.is_sealed(store.fetch(model.cid)), "the demo's models are sealed by default"
            assert sha256_hex(model_bytes(store, model, FERDIE)) == model.hash
            accepted = []
            for result_id in range(chain.next_ids()[1]):
                result = chain.result(result_id)
                ours = result is not None and (result.task_id, result.round) == (task_id, round_)
                if ours and result is not None and result.status == ResultSubmissionStatus.ACCEPTED:
                    accepted.append(result_id)
            assert list(model.accepted) == accepted
            # Read as anyone with chain RPC and IPFS would: every update of the Flower round is
            # sealed; the creator (Alice) cannot open one, the validator (Ferdie) can.
            for result_id in accepted:
                result = chain.result(result_id)
                assert result is not None
                blob = store.get(result.cid, result.hash)
                context = sealing.Context("update", task_id, round_, result.worker)
                with pytest.raises(SealError):
                    sealing.open_bytes(blob, ALICE, context)
                assert sealing.open_bytes(blob, FERDIE, context).startswith(b"DMLW1")
            checked.append(round_)

    summary = demo.run(args, tmp_path / "work", inspect)

    assert checked == [1, 2]
    assert summary["status"] == "Completed"
    assert [(r["accepted"], r["rejected"], r["poisoned_rejected"]) for r in summary["rounds"]] == [
        (2, 1, True),
        (2, 1, True),
    ]
    assert summary["final_accuracy"] > 0.85
    changes = summary["balance_changes"]
    poisoned = summary["poisoned_workers"][0]
    assert all(changes[w] > 0 for w in summary["honest_workers"])
    assert changes[poisoned] < 0, "the poisoned worker paid fees and earned nothing"
    # The model card: every accepted contributor declared its demo source's card when it
    # claimed the task (the daemon), and the card lists its dataset and licence.
    card = summary["card"]
    assert sorted(card["contributors"]) == sorted(card["declared"]) == sorted(summary["honest_workers"])
    assert card["licences"] == ["CC-BY-4.0"]
    text = Path(card["path"]).read_text()
    assert "Optical Recognition of Handwritten Digits" in text
    assert poisoned not in text


def own_task(tmp_path: Path, task: str, rounds: int, workers: int, poisoned: int) -> dict[str, Any]:
    args = demo.parse(
        [
            "--free-ports", "--task", task, "--rounds", str(rounds), "--workers", str(workers),
            "--poisoned", str(poisoned), "--summary", str(tmp_path / "s.json"),
        ]
    )  # fmt: skip
    return demo.run(args, tmp_path / "work")


@pytest.mark.devnet
def test_an_own_csv_and_parquet_task_runs_through_flower_and_pays_its_workers(tmp_path: Path) -> None:
    # Three workers (one holding Parquet, two CSV) and a poisoned one; Alice's holdout is sealed.
    summary = own_task(tmp_path, "tabular", rounds=2, workers=3, poisoned=1)

    assert summary["status"] == "Completed"
    assert [(r["accepted"], r["rejected"], r["poisoned_rejected"]) for r in summary["rounds"]] == [
        (3, 1, True)
    ] * 2
    last = summary["rounds"][-1]["test_metrics"]
    assert set(last) == {"loss", "accuracy", "macro_f1", "auroc"}
    assert last["accuracy"] > 0.9
    assert last["auroc"] > 0.95
    assert all(summary["balance_changes"][w] > 0 for w in summary["honest_workers"])
    # Each worker's share had a DATASET.md beside it: the catalogue found it, the daemon declared
    # it, and the model card lists each accepted contributor's share and its licence.
    card = summary["card"]
    assert sorted(card["contributors"]) == sorted(card["declared"]) == sorted(summary["honest_workers"])
    assert card["licences"] == ["CC-BY-4.0"]
    text = Path(card["path"]).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 5")]  # a contributor's row
    assert len(rows) == 3
    assert all("Breast Cancer Wisconsin (Diagnostic)" in row and "CC-BY-4.0" in row for row in rows)


@pytest.mark.devnet
def test_an_image_folder_task_of_png_files_trains_through_the_same_path(tmp_path: Path) -> None:
    summary = own_task(tmp_path, "image", rounds=2, workers=2, poisoned=0)

    assert summary["status"] == "Completed"
    assert [r["accepted"] for r in summary["rounds"]] == [2, 2]
    assert summary["rounds"][-1]["test_metrics"]["accuracy"] > 0.8
    assert "auroc" not in summary["rounds"][-1]["test_metrics"]  # ten classes


@pytest.mark.devnet
def test_the_language_model_demo_trains_through_flower_and_prints_a_sample(tmp_path: Path) -> None:
    # The user's own path: `dml task init --kind text` trains Alice's BPE tokenizer on her share
    # and sizes a 5M-parameter model; three workers each hold whole standard-library modules as
    # folders of .py files (with a dataset card that is not read as text), over TLS with node
    # authentication.
    summary = own_task(tmp_path, "lm", rounds=2, workers=3, poisoned=0)

    assert summary["status"] == "Completed"
    assert [r["accepted"] for r in summary["rounds"]] == [3, 3]
    model = summary["model"]
    assert (model["vocab_size"], model["context"], model["layers"], model["width"]) == (4096, 128, 5, 256)
    assert 4.5e6 < model["parameters"] < 5.5e6
    assert model["tokenizer"]["file"] == "tokenizer.json"
    losses = [r["validation_loss"] for r in summary["rounds"]]
    assert losses[1] < losses[0] < math.log(4096)  # below an untrained model's
    # Compact both ways through Flower: round 1 sends the model whole to each worker, round 2 its
    # 1-bit delta to the workers that hold round 1's; every update goes up as 1-bit signs.
    full = 4 * model["parameters"]  # float32
    first, second = summary["rounds"]
    assert 3 * full <= first["down_bytes"] < 3 * full * 1.01
    assert second["down_bytes"] < 3 * full / 20
    assert first["up_bytes"] < 3 * full / 20
    assert second["up_bytes"] < 3 * full / 20
    assert set(summary["rounds"][-1]["test_metrics"]) == {"loss", "perplexity", "accuracy"}
    assert len(summary["sample"]) > 50
    assert summary["card"]["licences"] == ["PSF-2.0"]


def test_the_demo_refuses_a_bad_round_count(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "scripts/demo.py", "--rounds", "0", "--summary", str(tmp_path / "s.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "--rounds must be at least 1" in refused.stderr
    assert not (tmp_path / "s.json").exists()


def test_the_demo_refuses_a_language_model_round_without_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        demo.parse(["--task", "lm", "--lm-tokens", "0", "--summary", str(tmp_path / "s.json")])
    assert refused.value.code == 2
    assert "--lm-tokens must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--validators", "3", "--liars", "2"], "--liars must be 0 to 1 with 3 validators"),
        (["--validators", "1", "--liars", "1"], "--liars must be 0 to 0 with 1 validators"),
        (["--validators", "5", "--liars", "-1"], "--liars must be 0 to 2 with 5 validators"),
        (["--dispute-round", "1"], "--dispute-round needs --validators 2 or more"),
        (["--validators", "3", "--rounds", "2", "--dispute-round", "3"], "a round from 1 to --rounds"),
        (["--validators", "3", "--dispute-round", "-1"], "a round from 1 to --rounds"),
    ],
)
def test_the_demo_refuses_a_committee_it_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        demo.parse([*given, "--summary", str(tmp_path / "s.json")])
    assert refused.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


@pytest.mark.devnet
def test_a_committee_of_three_coordinators_judges_an_own_task_through_flower(tmp_path: Path) -> None:
    """Three coordinator processes (t = 2) and four workers through Flower. Round 1: the liar
    (support/liar.py) approves the poisoned update and attests a changed model; the two honest
    members outvote it. Round 2: member 1 turns liar too, with a nudge of its own: no two agree,
    the members dispute the round, nothing is committed until the council resolves it with the
    carrier's attestation. The creator cannot commit; `dml model verify` matches every model."""
    import httpx
    from substrateinterface import Keypair

    from coordinator.committee.verify import verify_model
    from decentralml_bindings import DispatchFailed, calls

    args = demo.parse(
        [
            "--free-ports", "--task", "tabular", "--rounds", "2", "--workers", "3", "--poisoned", "1",
            "--validators", "3", "--liars", "1", "--dispute-round", "2",
            "--summary", str(tmp_path / "s.json"),
        ]
    )  # fmt: skip
    checked: list[int] = []
    liar = args.members[-1].ss58_address  # its coordinator is support/liar.py: a process of its own
    turned = args.members[1].ss58_address  # support/liar.py --from-round 2
    poisoned = Keypair.create_from_uri("//DemoWorker3").ss58_address  # workers 0-2 honest

    def inspect(chain: DecentralMl, store: ContentStore, task_id: int) -> None:
        task = chain.task(task_id)
        assert task is not None
        assert list(task.validators) == [m.ss58_address for m in args.members]
        for round_ in (1, 2):
            model_id = chain.round_model(task_id, round_)
            assert model_id is not None
            model = chain.model(model_id)
            assert model is not None
            carried = chain.attestation(task_id, round_, FERDIE.ss58_address)
            assert carried is not None
            assert carried.hash == model.hash  # the carrier's model
            assert verify_model(chain, store, args.members[1], model_id).match
            # The liar approved the poisoned update and attested another model: outvoted, its
            # attestation kept on chain and shown as disagreeing; the poisoned update not accepted.
            lied = chain.attestation(task_id, round_, liar)
            assert lied is not None, f"the liar did not attest round {round_}"
            assert lied.hash != model.hash
            sent = chain.round_results(task_id, round_)
            assert len(sent) == 4
            assert sent[poisoned] in lied.accepted
            assert sent[poisoned] not in model.accepted
            other = chain.attestation(task_id, round_, turned)
            assert other is not None
            if round_ == 1:  # two of three agree: committed by the attestations
                assert model.attestations >= 2
                assert other.hash == model.hash
            else:  # no two agree: the council's choice, after the dispute
                assert len({carried.hash, lied.hash, other.hash}) == 3
            checked.append(round_)
        view = httpx.get(f"http://127.0.0.1:{args.api_port}/tasks/{task_id}", timeout=10).json()
        marks = {(a["round"], a["validator"]): a["agrees"] for a in view["attestations"]}
        assert marks == {
            (1, FERDIE.ss58_address): True,
            (1, turned): True,
            (1, liar): False,
            (2, FERDIE.ss58_address): True,
            (2, turned): False,
            (2, liar): False,
        }
        disputes = [(d["round"], d["resolved"], d["chosen"]) for d in view["disputes"]]
        assert disputes == [(2, True, FERDIE.ss58_address)]
        last_id = chain.round_model(task_id, 2)
        assert last_id is not None
        last = chain.model(last_id)
        assert last is not None
        attempt = calls.commit_model(task_id, 2, last.cid, last.hash, list(last.accepted))
        with pytest.raises(DispatchFailed) as refused:  # the creator cannot commit
            chain.submit(attempt, ALICE)
        assert refused.value.name == "NotCommitter"

    summary = demo.run(args, tmp_path / "work", inspect)

    assert checked == [1, 2]
    assert summary["status"] == "Completed"
    assert [d["round"] for d in summary["disputes"]] == [2]
    assert [r["poisoned_rejected"] for r in summary["rounds"]] == [True, True]
    assert all(summary["balance_changes"][w] > 0 for w in summary["honest_workers"])
    assert summary["balance_changes"][poisoned] < 0


def test_the_demo_stops_at_once_when_a_worker_fails() -> None:
    failing = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    failing.wait(timeout=60)
    done.wait(timeout=60)

    with pytest.raises(RuntimeError, match=r"failed \(exit 3\) while waiting for the task"):
        demo.wait_for("the task", lambda: False, 600, [], succeed=[done, failing])
    # A worker that ended well (run --once) is no reason to stop.
    assert demo.wait_for("the task", lambda: "found", 600, [], succeed=[done]) == "found"
