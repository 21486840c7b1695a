#!/usr/bin/env bash
# CI check that chain/artifacts/ matches chain/ sources, without Rust:
#   1. chain/scripts/source-hash.sh == manifest.json "source_hash"
#   2. sha256 of the committed wasm  == manifest.json "wasm_sha256"
#   3. (if the manifest lists a dev spec) sha256 of that spec == "dev_spec_sha256"
# Needs bash, sha256sum, python3. Exit 0 when consistent, 1 on mismatch, 2 when files are missing.
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHAIN="$(cd "$SCRIPTS/.." && pwd)"
REPO="$(cd "$CHAIN/.." && pwd)"
MANIFEST="$CHAIN/artifacts/manifest.json"
REBUILD_HINT='run `make runtime` and commit chain/artifacts'

fail() { echo "check-runtime: $1" >&2; exit "${2:-1}"; }

[ -f "$MANIFEST" ] || fail "chain/artifacts/manifest.json is missing: $REBUILD_HINT" 2

# Read the manifest fields as NUL-free lines: source_hash, wasm_file, wasm_sha256, dev_spec_file, dev_spec_sha256
mapfile -t F < <(python3 - "$MANIFEST" <<'PY'
import json, sys
try:
    m = json.load(open(sys.argv[1]))
except Exception as exc:
    print(f"check-runtime: cannot parse {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(2)
for k, default in (("source_hash", ""), ("wasm_file", "chain/artifacts/decentralml_runtime.compact.compressed.wasm"),
                   ("wasm_sha256", ""), ("dev_spec_file", ""), ("dev_spec_sha256", "")):
    v = m.get(k) or default
    print(str(v).replace("\n", " "))
PY
) || fail "cannot read chain/artifacts/manifest.json" 2
[ ${#F[@]} -eq 5 ] || fail "cannot read chain/artifacts/manifest.json" 2
want_src=${F[0]} wasm_rel=${F[1]} want_wasm=${F[2]} spec_rel=${F[3]} want_spec=${F[4]}
[ -n "$want_src" ] && [ -n "$want_wasm" ] || fail "manifest.json lacks source_hash or wasm_sha256: $REBUILD_HINT" 2

have_src=$("$SCRIPTS/source-hash.sh" "$CHAIN")
if [ "$have_src" != "$want_src" ]; then
  fail "chain/ sources changed since the committed wasm was built: $REBUILD_HINT
  (source hash now $have_src, manifest says $want_src; list the hashed files with chain/scripts/source-hash.sh --list)"
fi

wasm="$REPO/$wasm_rel"
[ -f "$wasm" ] || fail "$wasm_rel is missing: $REBUILD_HINT" 2
have_wasm=$(sha256sum "$wasm" | cut -d' ' -f1)
[ "$have_wasm" = "$want_wasm" ] \
  || fail "$wasm_rel does not match manifest.json (sha256 $have_wasm, manifest says $want_wasm): $REBUILD_HINT"

if [ -n "$spec_rel" ]; then
  [ -f "$REPO/$spec_rel" ] || fail "$spec_rel is missing: $REBUILD_HINT" 2
  have_spec=$(sha256sum "$REPO/$spec_rel" | cut -d' ' -f1)
  [ "$have_spec" = "$want_spec" ] \
    || fail "$spec_rel does not match manifest.json (sha256 $have_spec, manifest says $want_spec): $REBUILD_HINT"
fi

echo "check-runtime: OK (sources $have_src, wasm $have_wasm)"
