#!/usr/bin/env bash
# Build core, alloc and compiler_builtins for wasm32v1-none with Debian's rustc-web (1.96) and install
# them into that rustc's sysroot (<sysroot>/lib/rustlib/wasm32v1-none/lib/).
#
# Why: Debian ships no prebuilt rlibs for wasm32v1-none, and substrate-wasm-builder first test-builds a
# dummy crate for that target *without* -Zbuild-std; with the rlibs present it then picks wasm32v1-none
# by itself (see /work/shared/FIELD-GUIDE.md section 2).
#
# Idempotent: skips when the stamp file next to the rlibs records the same `rustc -vV` hash and recipe
# version and all three rlibs are present. The rlibs are tied to the exact rustc build, so any
# rustc-web upgrade triggers a rebuild. Set FORCE=1 to rebuild anyway.
#
# Environment (all optional):
#   DEBIAN_RUSTC   Debian's rustc   (default /usr/bin/rustc)
#   DEBIAN_CARGO   Debian's cargo   (default /usr/bin/cargo)
#   DECENTRALML_CACHE  work dir root (default /root/.cache/decentralml); never inside the repo
#   SYSROOT_JOBS   parallel jobs for the rlib build (default: cargo's default)
#   FORCE=1        rebuild even if the stamp matches
set -euo pipefail

TARGET=wasm32v1-none
RECIPE_VERSION=1   # bump when the build flags below change, to force a rebuild everywhere
RUSTC_BIN=${DEBIAN_RUSTC:-/usr/bin/rustc}
CARGO_BIN=${DEBIAN_CARGO:-/usr/bin/cargo}
CACHE=${DECENTRALML_CACHE:-/root/.cache/decentralml}
WORK="$CACHE/wasm-sysroot"

log() { echo "[prepare-wasm-sysroot] $*" >&2; }
die() { echo "[prepare-wasm-sysroot] ERROR: $*" >&2; exit 1; }

[ -x "$RUSTC_BIN" ] || die "$RUSTC_BIN not found: install Debian's rustc-web (apt-get install rustc-web cargo-web libstd-rust-web-dev rust-web-src rust-web-llvm lld-22)"
[ -x "$CARGO_BIN" ] || die "$CARGO_BIN not found: install Debian's cargo-web"

# Never let rustup's proxies or a caller's flags leak into this build.
unset RUSTC RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTUP_TOOLCHAIN RUSTFLAGS CARGO_ENCODED_RUSTFLAGS \
      CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET WASM_BUILD_TOOLCHAIN || true

RUSTC_VV=$("$RUSTC_BIN" -vV)
RUSTC_HASH=$(printf '%s\nrecipe=%s\ntarget=%s\n' "$RUSTC_VV" "$RECIPE_VERSION" "$TARGET" | sha256sum | cut -d' ' -f1)
SYSROOT=$("$RUSTC_BIN" --print sysroot)
LIBSRC="$SYSROOT/lib/rustlib/src/rust/library"
DEST="$SYSROOT/lib/rustlib/$TARGET/lib"
STAMP="$SYSROOT/lib/rustlib/$TARGET/decentralml-sysroot.stamp"
CRATES=(core alloc compiler_builtins)

installed_ok() {
  [ -f "$STAMP" ] || return 1
  [ "$(sed -n 's/^rustc_vv_sha256=//p' "$STAMP")" = "$RUSTC_HASH" ] || return 1
  local c
  for c in "${CRATES[@]}"; do
    compgen -G "$DEST/lib${c}-*.rlib" >/dev/null || return 1
  done
}

if [ "${FORCE:-0}" != 1 ] && installed_ok; then
  log "up to date for $(head -n1 <<<"$RUSTC_VV") ($DEST)"
  exit 0
fi

[ -d "$LIBSRC/core" ] && [ -d "$LIBSRC/vendor" ] || die "std sources missing at $LIBSRC: install rust-web-src"
[ -w "$SYSROOT/lib/rustlib" ] || die "$SYSROOT/lib/rustlib is not writable: run as root"

log "building core/alloc/compiler_builtins for $TARGET with $(head -n1 <<<"$RUSTC_VV")"
start=$(date +%s)

# A throw-away no_std crate whose only purpose is to make cargo build the sysroot crates.
rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/.cargo"
cat > "$WORK/Cargo.toml" <<'TOML'
[package]
name = "decentralml-wasm-sysroot"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "src/lib.rs"

[workspace]

[profile.release]
debug = 0
TOML
echo '#![no_std]' > "$WORK/src/lib.rs"
# std's own dependencies come from the vendored copies shipped by rust-web-src: fully offline.
cat > "$WORK/.cargo/config.toml" <<TOML
[source.crates-io]
replace-with = "debian-std-vendor"

[source.debian-std-vendor]
directory = "$LIBSRC/vendor"
TOML

jobs=()
[ -n "${SYSROOT_JOBS:-}" ] && jobs=(-j "$SYSROOT_JOBS")

# RUSTC_BOOTSTRAP only for this one command (needed for -Zbuild-std on a stable compiler).
# -Cembed-bitcode=yes: the runtime's wasm build may use LTO, which needs bitcode in the sysroot rlibs.
( cd "$WORK" && \
  RUSTC_BOOTSTRAP=1 RUSTC="$RUSTC_BIN" CARGO_TARGET_DIR="$WORK/target" RUSTFLAGS="-Cembed-bitcode=yes" \
  "$CARGO_BIN" build --offline --release --target "$TARGET" "${jobs[@]}" \
    -Zbuild-std=core,alloc -Zbuild-std-features=compiler-builtins-mem )

OUT="$WORK/target/$TARGET/release/deps"
for c in "${CRATES[@]}"; do
  n=$(compgen -G "$OUT/lib${c}-*.rlib" | wc -l)
  [ "$n" = 1 ] || die "expected exactly one lib${c}-*.rlib in $OUT, found $n"
done

# Install: stage next to the destination, drop the stamp first so an interrupted install is redone,
# remove older copies (two libcore rlibs in one sysroot dir make rustc fail with E0464), move in.
mkdir -p "$DEST"
rm -f "$STAMP"
STAGE=$(mktemp -d "$SYSROOT/lib/rustlib/$TARGET/.stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
for c in "${CRATES[@]}"; do cp "$OUT"/lib"${c}"-*.rlib "$STAGE/"; done
for c in "${CRATES[@]}"; do rm -f "$DEST"/lib"${c}"-*.rlib "$DEST"/lib"${c}"-*.rmeta; done
mv "$STAGE"/*.rlib "$DEST/"
chmod 0644 "$DEST"/*.rlib
{
  echo "# written by chain/scripts/prepare-wasm-sysroot.sh; delete to force a rebuild"
  echo "rustc_vv_sha256=$RUSTC_HASH"
  echo "recipe_version=$RECIPE_VERSION"
  echo "rustc=$(head -n1 <<<"$RUSTC_VV")"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  (cd "$DEST" && sha256sum lib*.rlib | sed 's/^/rlib_sha256=/')
} > "$STAMP"

rm -rf "$WORK/target"   # ~100 MB of intermediates; the installed rlibs are all that is needed

log "installed $(ls "$DEST" | tr '\n' ' ')into $DEST in $(( $(date +%s) - start ))s"
