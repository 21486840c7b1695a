#!/usr/bin/env bash
# `make runtime`: build the DecentralML runtime to wasm with Debian's Rust 1.96 (rustc-web) and refresh
# chain/artifacts/ (the compressed wasm, the dev chain spec if chain/devnet/build-spec.mjs exists,
# manifest.json). See /work/shared/FIELD-GUIDE.md section 2 for why each setting below exists.
#
# rustup's toolchain (~/.cargo/bin, 1.95, no wasm target, no rust-src) is never used here.
#
# Environment (all optional):
#   DECENTRALML_CACHE            cache root (default /root/.cache/decentralml)
#   CARGO_BUILD_JOBS             parallel jobs (cargo's own variable; default = cores)
#   RUNTIME_CARGO_SUBCOMMAND     "build" (default) or "check": the wasm is produced by the runtime's
#                                build.rs either way; "check" skips codegen of the native runtime and
#                                its native dependencies, which nothing here uses
#   EXTRA_WASM_BUILD_RUSTFLAGS   appended to WASM_BUILD_RUSTFLAGS
#   DEBIAN_RUST_BIN              directory of Debian's cargo/rustc (default /usr/bin)
#   RUNTIME_FEATURES             extra cargo features of the runtime (e.g. runtime-benchmarks); with them
#                                the wasm is copied to RUNTIME_WASM_OUT (required) and chain/artifacts/
#                                is left alone: only the plain runtime is ever committed
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHAIN="$(cd "$SCRIPTS/.." && pwd)"
REPO="$(cd "$CHAIN/.." && pwd)"
CACHE=${DECENTRALML_CACHE:-/root/.cache/decentralml}
TARGET_DIR="$CACHE/target-wasm"
ARTIFACTS="$CHAIN/artifacts"
WASM_NAME=decentralml_runtime.compact.compressed.wasm
POLKADOT_SDK_RELEASE=stable2512
DEBIAN_BIN=${DEBIAN_RUST_BIN:-/usr/bin}   # where Debian put rustc-web/cargo-web (dpkg -L rustc-web cargo-web)
SUBCMD=${RUNTIME_CARGO_SUBCOMMAND:-check}
PACKAGES=(rustc-web cargo-web libstd-rust-web-dev rust-web-src rust-web-llvm lld-22)

log() { echo "[build-runtime] $*" >&2; }
die() { echo "[build-runtime] ERROR: $*" >&2; exit 1; }
case "$SUBCMD" in build|check) ;; *) die "RUNTIME_CARGO_SUBCOMMAND must be build or check" ;; esac
FEATURES=${RUNTIME_FEATURES:-}
FEATURE_ARGS=()
if [ -n "$FEATURES" ]; then
  [ -n "${RUNTIME_WASM_OUT:-}" ] || die "RUNTIME_FEATURES needs RUNTIME_WASM_OUT (where the wasm goes)"
  FEATURE_ARGS=(--features "$FEATURES")
fi

# ---- 1. Debian's Rust packages ---------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}" \
    || { "${SUDO[@]}" apt-get update && "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

# ---- 2. wasm32v1-none sysroot rlibs (no-op when already built for this exact rustc) -------------------
DEBIAN_RUSTC="$DEBIAN_BIN/rustc" DEBIAN_CARGO="$DEBIAN_BIN/cargo" DECENTRALML_CACHE="$CACHE" \
  "$SCRIPTS/prepare-wasm-sysroot.sh"

# ---- 3. the environment of the wasm build -------------------------------------------------------------
# A shim dir holding only Debian's cargo/rustc/rustdoc, first in PATH: any bare `cargo`/`rustc` lookup
# (wasm-builder's inner cargo drops RUSTC) finds Debian's, without shadowing the rest of /usr/local/bin.
SHIM="$CACHE/debian-rust-bin"
mkdir -p "$SHIM"
for b in cargo rustc rustdoc; do ln -sfn "$DEBIAN_BIN/$b" "$SHIM/$b"; done
ORIG_PATH=$PATH
export PATH="$SHIM:$PATH"
export CARGO_BUILD_RUSTC="$DEBIAN_BIN/rustc"   # survives wasm-builder's env_remove("RUSTC")
export RUSTC="$DEBIAN_BIN/rustc"               # outer cargo
export CARGO_TARGET_DIR="$TARGET_DIR"          # never shared with rustup's builds
# Paths of this checkout and of the crate cache end up in panic messages: remap them so the wasm
# is the same bytes wherever the sources are checked out.
CARGO_REGISTRY_SRC="${CARGO_HOME:-$HOME/.cargo}/registry/src"
REMAP="--remap-path-prefix=$CHAIN=/decentralml/chain --remap-path-prefix=$CARGO_REGISTRY_SRC=/cargo/registry/src"
export WASM_BUILD_RUSTFLAGS="-C link-arg=--allow-undefined $REMAP${EXTRA_WASM_BUILD_RUSTFLAGS:+ $EXTRA_WASM_BUILD_RUSTFLAGS}"
export WASM_BUILD_NO_COLOR=1
# wasm-builder looks for the workspace's Cargo.lock by walking up from OUT_DIR; with the target dir
# outside the repo it would find none and let the inner wasm build resolve dependencies afresh
# (versions not pinned by chain/Cargo.lock). The hint makes it copy chain/Cargo.lock.
export WASM_BUILD_WORKSPACE_HINT="$CHAIN"
# Anything that would pick another toolchain, force build-std, skip the wasm or alter flags: cleared.
unset WASM_BUILD_TOOLCHAIN RUSTC_BOOTSTRAP RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER \
      RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS SKIP_WASM_BUILD WASM_BUILD_STD \
      WASM_BUILD_TYPE WASM_TARGET_DIRECTORY WASM_BUILD_CARGO_ARGS FORCE_WASM_BUILD CARGO_BUILD_TARGET || true

CARGO="$DEBIAN_BIN/cargo"
[ "$(command -v cargo)" = "$SHIM/cargo" ] && [ "$(command -v rustc)" = "$SHIM/rustc" ] \
  || die "PATH does not resolve cargo/rustc to Debian's"
RUSTC_VV=$("$DEBIAN_BIN/rustc" -vV)
CARGO_V=$("$CARGO" -V)
RUSTC_COMMIT=$(sed -n 's/^commit-hash: //p' <<<"$RUSTC_VV")
log "toolchain: $(head -n1 <<<"$RUSTC_VV") / $CARGO_V"
log "env: PATH=$SHIM:… CARGO_BUILD_RUSTC=$CARGO_BUILD_RUSTC RUSTC=$RUSTC CARGO_TARGET_DIR=$CARGO_TARGET_DIR WASM_BUILD_RUSTFLAGS='$WASM_BUILD_RUSTFLAGS' WASM_BUILD_WORKSPACE_HINT=$WASM_BUILD_WORKSPACE_HINT"

# One build at a time per cache dir (2-core machines).
mkdir -p "$CACHE"
exec 9>"$CACHE/build-runtime.lock"
flock -n 9 || { log "another build-runtime.sh holds $CACHE/build-runtime.lock; waiting"; flock 9; }

# ---- 4. build ------------------------------------------------------------------------------------------
SRC_HASH_BEFORE=$("$SCRIPTS/source-hash.sh" "$CHAIN")
start=$(date +%s)
log "cargo $SUBCMD --locked --release -p decentralml-runtime ${FEATURE_ARGS[*]} (in $CHAIN)"
( cd "$CHAIN" && "$CARGO" "$SUBCMD" --locked --release -p decentralml-runtime "${FEATURE_ARGS[@]}" )
secs=$(( $(date +%s) - start ))
log "cargo finished in ${secs}s"

SRC_HASH=$("$SCRIPTS/source-hash.sh" "$CHAIN")
[ "$SRC_HASH" = "$SRC_HASH_BEFORE" ] \
  || die "chain/ sources changed during the build ($SRC_HASH_BEFORE -> $SRC_HASH): run it again"

WBUILD="$TARGET_DIR/release/wbuild/decentralml-runtime"
WASM="$WBUILD/$WASM_NAME"
if [ ! -f "$WASM" ]; then
  WASM=$(find "$TARGET_DIR/release/wbuild" -name "$WASM_NAME" -type f -printf '%T@ %p\n' 2>/dev/null \
         | sort -rn | head -n1 | cut -d' ' -f2-)
  [ -n "$WASM" ] && [ -f "$WASM" ] || die "$WASM_NAME not found under $TARGET_DIR/release/wbuild"
fi

# The inner (wasm) cargo records the rustc it ran in its target dir: make sure it was Debian's.
# (wasm-builder sets the inner CARGO_TARGET_DIR to <wbuild>/<crate>/target.)
RUSTC_INFO="$(dirname "$WASM")/target/.rustc_info.json"
if [ -f "$RUSTC_INFO" ]; then
  grep -q "$RUSTC_COMMIT" "$RUSTC_INFO" \
    || die "the wasm was not built by Debian's rustc ($RUSTC_COMMIT not in $RUSTC_INFO)"
else
  log "warning: $RUSTC_INFO missing; cannot double-check which rustc built the wasm"
fi

# The inner build must have used exactly the registry crates pinned by chain/Cargo.lock.
INNER_LOCK="$(dirname "$WASM")/Cargo.lock"
[ -f "$INNER_LOCK" ] || die "$INNER_LOCK missing: wasm-builder did not copy chain/Cargo.lock"
python3 - "$CHAIN/Cargo.lock" "$INNER_LOCK" <<'PY' || die "the wasm build used crates not pinned by chain/Cargo.lock"
import sys, tomllib
def pkgs(path):
    with open(path, "rb") as f:
        return {(p["name"], p["version"], p.get("source")) for p in tomllib.load(f).get("package", []) if p.get("source")}
extra = sorted(pkgs(sys.argv[2]) - pkgs(sys.argv[1]))
for name, version, source in extra:
    print(f"[build-runtime]   not in chain/Cargo.lock: {name} {version} ({source})", file=sys.stderr)
sys.exit(1 if extra else 0)
PY

if [ -n "$FEATURES" ]; then
  mkdir -p "$(dirname "$RUNTIME_WASM_OUT")"
  cp "$WASM" "$RUNTIME_WASM_OUT"
  log "wasm with features $FEATURES: $RUNTIME_WASM_OUT ($(stat -c %s "$RUNTIME_WASM_OUT") bytes); chain/artifacts/ untouched"
  exit 0
fi

# ---- 5. artifacts --------------------------------------------------------------------------------------
mkdir -p "$ARTIFACTS"
cp "$WASM" "$ARTIFACTS/$WASM_NAME.tmp" && chmod 0644 "$ARTIFACTS/$WASM_NAME.tmp" && mv "$ARTIFACTS/$WASM_NAME.tmp" "$ARTIFACTS/$WASM_NAME"
log "wasm: $WASM -> chain/artifacts/$WASM_NAME ($(stat -c %s "$ARTIFACTS/$WASM_NAME") bytes)"

SPEC_REL=""
if [ -f "$CHAIN/devnet/build-spec.mjs" ]; then
  log "dev chain spec: node chain/devnet/build-spec.mjs"
  ( cd "$REPO" && PATH="$ORIG_PATH" node chain/devnet/build-spec.mjs \
      --wasm "chain/artifacts/$WASM_NAME" --preset development --out chain/artifacts/dev-spec.raw.json )
  SPEC_REL=chain/artifacts/dev-spec.raw.json
else
  log "chain/devnet/build-spec.mjs not present: no dev spec written"
fi

WASM_SHA=$(sha256sum "$ARTIFACTS/$WASM_NAME" | cut -d' ' -f1)
WASM_SIZE=$(stat -c %s "$ARTIFACTS/$WASM_NAME")
SPEC_SHA=""
[ -n "$SPEC_REL" ] && SPEC_SHA=$(sha256sum "$REPO/$SPEC_REL" | cut -d' ' -f1)

SOURCE_HASH="$SRC_HASH" RUSTC_VV="$RUSTC_VV" CARGO_V="$CARGO_V" WASM_SHA="$WASM_SHA" WASM_SIZE="$WASM_SIZE" \
WASM_FILE="chain/artifacts/$WASM_NAME" SPEC_REL="$SPEC_REL" SPEC_SHA="$SPEC_SHA" SECS="$secs" \
SDK="$POLKADOT_SDK_RELEASE" OUT="$ARTIFACTS/manifest.json" python3 - <<'PY'
import json, os, datetime
e = os.environ
m = {
    "source_hash": e["SOURCE_HASH"],
    "source_hash_script": "chain/scripts/source-hash.sh",
    "wasm_file": e["WASM_FILE"],
    "wasm_sha256": e["WASM_SHA"],
    "wasm_size": int(e["WASM_SIZE"]),
    "rustc_version": e["RUSTC_VV"].strip(),
    "cargo_version": e["CARGO_V"].strip(),
    "wasm_target": "wasm32v1-none",
    "wasm_build_rustflags": os.environ.get("WASM_BUILD_RUSTFLAGS", ""),
    "polkadot_sdk_release": e["SDK"],
    "built_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "build_seconds": int(e["SECS"]),
}
if e.get("SPEC_REL"):
    m["dev_spec_file"] = e["SPEC_REL"]
    m["dev_spec_sha256"] = e["SPEC_SHA"]
tmp = e["OUT"] + ".tmp"
with open(tmp, "w") as f:
    json.dump(m, f, indent=2, sort_keys=True)
    f.write("\n")
os.replace(tmp, e["OUT"])
PY
log "wrote chain/artifacts/manifest.json (source_hash $SRC_HASH, wasm_sha256 $WASM_SHA)"
"$SCRIPTS/check-runtime.sh"
