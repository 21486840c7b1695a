#!/usr/bin/env python3
"""Write `pallet_decentralml`'s weights.rs from frame-omni-bencher's analysis.

Input: the JSON that `frame-omni-bencher v1 benchmark pallet --template chain/scripts/weights.json.hbs`
writes (base time in picoseconds, per-component slopes, database reads and writes, the worst-case proof
size from the storage's MaxEncodedLen). Output: the pallet's `WeightInfo` trait, `SubstrateWeight<T>` on
the runtime's database weights and `()` on RocksDB's for tests, every function the trait has today.

Refuses (exit 2, nothing written) an analysis that lacks one of those functions or has one the trait
does not know, so a benchmark renamed or added never silently leaves a hand-made weight in place.

    weights.py ANALYSIS.json OUT.rs --command "make weights"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# The trait's functions in their order, with the components each takes.
FUNCTIONS: dict[str, list[str]] = {
    "create_task": [],
    "assign_task": [],
    "send_task_result": [],
    "validate_task_result": [],
    "accept_task_result": [],
    "reject_task_result": [],
    "commit_model": ["n"],
    "cancel_task": ["n"],
    "approve_model": [],
    "revoke_model": [],
    "on_initialize_expiry": ["n"],
    "reap": ["n"],
    "pay_approved": ["n"],
    "dispute_round": [],
    "resolve_dispute": ["n"],
    "publish_model": [],
    "declare_dataset": [],
}


def group(n: int) -> str:
    """A Rust integer literal with `_` between thousands."""
    return f"{n:_}"


def slopes(bench: dict[str, Any], key: str) -> dict[str, int]:
    return {s["name"]: int(s["slope"]) for s in bench[key] if int(s["slope"]) > 0}


def body(bench: dict[str, Any], db: str) -> list[str]:
    """The weight expression of one benchmark, as lines at two tabs."""
    lines = [f"Weight::from_parts({group(int(bench['base_weight']))}, {group(int(bench['base_proof']))})"]
    time, proof = slopes(bench, "weight"), slopes(bench, "proof")
    for name in sorted(set(time) | set(proof)):
        lines.append(
            f"\t.saturating_add(Weight::from_parts({group(time.get(name, 0))}, "
            f"{group(proof.get(name, 0))}).saturating_mul({name}.into()))"
        )
    for kind, base in (("reads", "base_reads"), ("writes", "base_writes")):
        expr = f"{int(bench[base])}_u64"
        for name, slope in sorted(slopes(bench, kind).items()):
            expr = f"({expr}).saturating_add(({slope}_u64).saturating_mul({name}.into()))"
        lines.append(f"\t.saturating_add({db}.{kind}({expr}))")
    return lines


def signature(name: str, bench: dict[str, Any]) -> str:
    used = {c["name"]: c["used"] for c in bench["components"]}
    params = ", ".join(f"{'' if used.get(c, False) else '_'}{c}: u32" for c in FUNCTIONS[name])
    return f"fn {name}({params}) -> Weight"


def render(analysis: dict[str, Any], command: str) -> str:
    found = {b["name"]: b for b in analysis["benchmarks"]}
    missing, unknown = set(FUNCTIONS) - set(found), set(found) - set(FUNCTIONS)
    if missing or unknown:
        raise ValueError(f"benchmarks missing: {sorted(missing)}; not in WeightInfo: {sorted(unknown)}")
    for name, params in FUNCTIONS.items():
        got = [c["name"] for c in found[name]["components"]]
        if got != params:
            raise ValueError(f"{name}: components {got}, WeightInfo takes {params}")
    out = [
        "//! Weights for `pallet_decentralml`, measured by `frame-omni-bencher` (do not edit by hand).",
        "//!",
        f"//! Benchmark CLI {analysis['version']}, {analysis['date']}, steps {analysis['steps']}, "
        f"repeat {analysis['repeat']},",
        f"//! {analysis['wasm_execution']} wasm execution, CPU `{analysis['cpu']}`.",
        f"//! Made by `{command}` (chain/scripts/benchmark-pallet.sh) from the benchmarks in",
        "//! `benchmarking.rs`, each in its worst case. Times are the fitted base plus per-component",
        "//! slopes, in picoseconds; proof sizes are the worst case from the storage's MaxEncodedLen.",
        "",
        "#![allow(unused_parens, unused_imports, missing_docs)]",
        "",
        "use core::marker::PhantomData;",
        "use frame::weights_prelude::*;",
        "",
        "/// Weight functions needed for `pallet_decentralml`.",
        "pub trait WeightInfo {",
    ]
    out += [f"\t{signature(n, found[n])};" for n in FUNCTIONS]
    out += [
        "}",
        "",
        "/// Weights for `pallet_decentralml` measured on the benchmark machine, runtime database weights.",
        "pub struct SubstrateWeight<T>(PhantomData<T>);",
        "impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {",
    ]
    for name in FUNCTIONS:
        bench = found[name]
        for comment in bench["storage"]:
            if comment.startswith("Storage:"):
                out.append(f"\t/// {comment}")
        for r in bench["ranges"]:
            out.append(f"\t/// The range of component `{r['name']}` is `[{r['min']}, {r['max']}]`.")
        out.append(f"\t{signature(name, bench)} {{")
        out += [f"\t\t{line}" for line in body(bench, "T::DbWeight::get()")]
        out.append("\t}")
    out += ["}", "", "/// For tests: the same weights with RocksDB's database weights."]
    out.append("impl WeightInfo for () {")
    for name in FUNCTIONS:
        out.append(f"\t{signature(name, found[name])} {{")
        out += [f"\t\t{line}" for line in body(found[name], "RocksDbWeight::get()")]
        out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("analysis", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--command", default="make weights")
    args = parser.parse_args()
    try:
        text = render(json.loads(args.analysis.read_text()), args.command)
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        print(f"weights.py: {args.analysis}: {error}", file=sys.stderr)
        return 2
    args.out.write_text(text)
    print(f"weights.py: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
