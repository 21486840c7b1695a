"""`make demo` keeps working: the demo script runs a whole task on its own devnet and summarises it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.devnet import ROOT


@pytest.mark.devnet
def test_the_demo_completes_and_rejects_the_poisoned_worker_every_round(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"

    subprocess.run(
        [
            sys.executable,
            "scripts/demo.py",
            "--rounds",
            "2",
            "--poisoned",
            "charlie",
            "--summary",
            str(summary_path),
        ],
        cwd=ROOT,
        check=True,
        timeout=300,
    )

    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "Completed"
    assert [(r["round"], r["accepted"], r["rejected"]) for r in summary["rounds"]] == [(1, 2, 1), (2, 2, 1)]
    assert summary["rounds"][1]["parent"] == summary["rounds"][0]["model_id"]
    changes = summary["balance_changes"]
    assert changes["charlie"] < 0 < changes["bob"]


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
