"""chain/scripts/weights.py: frame-omni-bencher's analysis to weights.rs, refusing an analysis that
does not cover the pallet's WeightInfo exactly (no hand-made weight silently left in place)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.devnet import ROOT

SCRIPT = ROOT / "chain" / "scripts" / "weights.py"
WEIGHTS = ROOT / "chain" / "pallets" / "decentralml" / "src" / "weights.rs"
WITH_N = {"commit_model", "cancel_task", "on_initialize_expiry", "reap", "resolve_dispute", "pay_approved"}
NAMES = [
    "create_task", "assign_task", "send_task_result", "validate_task_result", "accept_task_result",
    "reject_task_result", "commit_model", "cancel_task", "approve_model", "revoke_model",
    "on_initialize_expiry", "reap", "pay_approved", "dispute_round", "resolve_dispute", "publish_model",
    "declare_dataset",
]  # fmt: skip


def analysis() -> dict[str, Any]:
    benches = []
    for i, name in enumerate(NAMES):
        n = name in WITH_N
        benches.append({
            "name": name, "base_weight": 1_000_000 * (i + 1), "base_reads": 3, "base_writes": 2,
            "base_proof": 4_000 + i, "min_execution_time": 10,
            "components": [{"name": "n", "used": True}] if n else [],
            "ranges": [{"name": "n", "min": 0, "max": 64}] if n else [],
            "weight": [{"name": "n", "slope": 7_000, "error": 10}] if n else [],
            "reads": [{"name": "n", "slope": 1}] if n else [],
            "writes": [{"name": "n", "slope": 2}] if n else [],
            "proof": [{"name": "n", "slope": 100}] if n else [],
            "storage": ["Storage: `DecentralMl::Tasks` (r:1 w:1)", "Proof: `DecentralMl::Tasks` (...)"],
        })  # fmt: skip
    return {"pallet": "pallet_decentralml", "version": "53.0.0", "date": "2026-12-01", "cpu": "test",
            "steps": 50, "repeat": 20, "wasm_execution": "Compiled", "benchmarks": benches}  # fmt: skip


def run(tmp_path: Path, found: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], Path]:
    source, out = tmp_path / "analysis.json", tmp_path / "weights.rs"
    source.write_text(json.dumps(found))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(source), str(out)], capture_output=True, text=True
    )
    return done, out


def test_every_weight_comes_from_the_analysis(tmp_path: Path) -> None:
    done, out = run(tmp_path, analysis())
    assert done.returncode == 0, done.stderr
    rust = out.read_text()
    for i, name in enumerate(NAMES):
        param = "n: u32" if name in WITH_N else ""
        assert rust.count(f"fn {name}({param}) -> Weight") == 3  # trait, SubstrateWeight, ()
        assert f"Weight::from_parts({1_000_000 * (i + 1):_}, {4_000 + i:_})" in rust
    assert "Weight::from_parts(7_000, 100).saturating_mul(n.into())" in rust
    assert "reads((3_u64).saturating_add((1_u64).saturating_mul(n.into())))" in rust
    assert "/// Storage: `DecentralMl::Tasks` (r:1 w:1)" in rust
    assert "Proof:" not in rust
    # The committed weights.rs declares the same trait the script writes.
    committed = WEIGHTS.read_text()
    for name in NAMES:
        assert f"fn {name}(" in committed


@pytest.mark.parametrize("change", ["missing", "unknown", "components"])
def test_an_analysis_that_does_not_match_the_trait_is_refused(tmp_path: Path, change: str) -> None:
    found = copy.deepcopy(analysis())
    if change == "missing":
        found["benchmarks"] = found["benchmarks"][1:]
    elif change == "unknown":
        found["benchmarks"][0]["name"] = "create_task_v2"
    else:
        found["benchmarks"][0]["components"] = [{"name": "n", "used": True}]
    done, out = run(tmp_path, found)
    assert done.returncode == 2
    assert "weights.py:" in done.stderr
    assert not out.exists()
