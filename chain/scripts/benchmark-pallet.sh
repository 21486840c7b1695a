#!/usr/bin/env bash
# `make weights`: measure pallet_decentralml's weights and rewrite chain/pallets/decentralml/src/weights.rs.
#
# 1. builds the runtime wasm with `runtime-benchmarks` (build-runtime.sh, Debian's Rust; that wasm goes
#    to the cache, never to chain/artifacts/);
# 2. runs frame-omni-bencher over every benchmark of the pallet (the CLI is built once into the cache:
#    `cargo install frame-omni-bencher` with SKIP_WASM_BUILD=1, because one of its build scripts wants
#    rustup's wasm target, which these machines cannot install; it needs Debian's libclang-dev and
#    protobuf-compiler);
# 3. turns the CLI's analysis (chain/scripts/weights.json.hbs) into weights.rs (chain/scripts/weights.py)
#    and formats it.
# Afterwards `make runtime` rebuilds the committed wasm with the new weights. Not run by CI.
#
# Environment (all optional): DECENTRALML_CACHE, BENCH_STEPS (default 50), BENCH_REPEAT (default 20),
# OMNI_BENCHER (path of an existing frame-omni-bencher).
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHAIN="$(cd "$SCRIPTS/.." && pwd)"
CACHE=${DECENTRALML_CACHE:-/root/.cache/decentralml}
# The CLI's host functions must match the runtime's polkadot-sdk (stable2512: sp-runtime 45, sp-storage 22,
# frame-benchmarking 45): 0.17.x is the last release on those. 0.28.0's host decodes a TrackedStorageKey
# with a child_trie_key the runtime does not send, and every benchmark fails in set_whitelist.
OMNI_VERSION=0.17.3
OMNI_ROOT="$CACHE/omni-bencher/root-$OMNI_VERSION"
OMNI=${OMNI_BENCHER:-$OMNI_ROOT/bin/frame-omni-bencher}
WASM="$CACHE/bench-runtime/decentralml_runtime.compact.compressed.wasm"
OUT="$CHAIN/pallets/decentralml/src/weights.rs"
log() { echo "[benchmark-pallet] $*" >&2; }

if [ ! -x "$OMNI" ]; then
  for p in libclang-dev protobuf-compiler; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || { log "installing $p"; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$p"; }
  done
  log "building frame-omni-bencher $OMNI_VERSION into $OMNI_ROOT (36 min on 2 cores)"
  SKIP_WASM_BUILD=1 CARGO_TARGET_DIR="$CACHE/omni-bencher" \
    cargo install --locked --root "$OMNI_ROOT" frame-omni-bencher --version "$OMNI_VERSION"
fi

RUNTIME_FEATURES=runtime-benchmarks RUNTIME_WASM_OUT="$WASM" "$SCRIPTS/build-runtime.sh"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log "frame-omni-bencher v1 benchmark pallet --pallet pallet_decentralml --extrinsic '*'"
"$OMNI" v1 benchmark pallet --runtime "$WASM" --pallet pallet_decentralml --extrinsic '*' \
  --steps "${BENCH_STEPS:-50}" --repeat "${BENCH_REPEAT:-20}" --wasm-execution compiled \
  --template "$SCRIPTS/weights.json.hbs" --output "$WORK/analysis.json"
python3 "$SCRIPTS/weights.py" "$WORK/analysis.json" "$OUT" --command "make weights"
rustfmt --edition 2021 --config-path "$CHAIN/rustfmt.toml" "$OUT"
log "wrote $OUT; now run make runtime"
