"""The whole system through Flower's deployment engine (the demo's own orchestration): devnet, Kubo,
the coordinator with its SuperLink, and `dml worker run` daemons as SuperNodes, one poisoned.

For every round: the hash committed on chain is the sha256 of the bytes IPFS holds under the
committed CID, and the results listed in the commit are exactly those accepted on chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from decentralml.content import ContentStore, sha256_hex
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import ResultSubmissionStatus
from scripts import demo
from tests.devnet import ROOT


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
            assert sha256_hex(store.get(model.cid, model.hash)) == model.hash
            accepted = []
            for result_id in range(chain.next_ids()[1]):
                result = chain.result(result_id)
                ours = result is not None and (result.task_id, result.round) == (task_id, round_)
                if ours and result is not None and result.status == ResultSubmissionStatus.ACCEPTED:
                    accepted.append(result_id)
            assert list(model.accepted) == accepted
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
