#!/usr/bin/env bash
# Print a deterministic sha256 over the runtime's inputs (the files under chain/ that the wasm build reads).
#
# Included: every regular file (and symlink) under chain/ EXCEPT chain/artifacts/, chain/devnet/,
# chain/scripts/, any directory named target/, node_modules/ or .git/, and editor/OS junk
# (*.swp, *.swo, *~, .DS_Store). Today that is chain/Cargo.toml, chain/Cargo.lock and everything under
# chain/pallets/ and chain/runtime/; a new file such as chain/rust-toolchain.toml or
# chain/.cargo/config.toml is included automatically because it can change the build.
#
# Per file (sorted by path, LC_ALL=C, NUL-safe) the stream gets: "<path>\0<sha256 of content>\n",
# path relative to chain/ (e.g. "runtime/src/lib.rs"); symlinks contribute "link:<target>" instead of
# a content hash. The result is the sha256 of that stream. File modes and mtimes are ignored.
# Needs only bash, find, sort, sha256sum: no git.
#
# Usage: source-hash.sh [--list] [CHAIN_DIR]   (CHAIN_DIR defaults to this script's parent directory)
#   --list  print the hashed paths (one per line) to stderr as well
set -euo pipefail
export LC_ALL=C

list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi
CHAIN_DIR=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"}
[ -f "$CHAIN_DIR/Cargo.toml" ] || { echo "source-hash.sh: $CHAIN_DIR/Cargo.toml not found" >&2; exit 2; }
cd "$CHAIN_DIR"

n=0
hash=$(
  find . \
    \( -path ./artifacts -o -path ./devnet -o -path ./scripts \
       -o -name target -o -name node_modules -o -name .git \) -prune \
    -o \( -type f -o -type l \) \
       ! -name '*.swp' ! -name '*.swo' ! -name '*~' ! -name .DS_Store \
       -print0 \
  | sort -z \
  | while IFS= read -r -d '' f; do
      p=${f#./}
      if [ -L "$f" ]; then
        h="link:$(readlink "$f")"
      else
        h=$(sha256sum < "$f" | cut -d' ' -f1)
      fi
      [ "$list" = 1 ] && printf '%s\n' "$p" >&2
      printf '%s\0%s\n' "$p" "$h"
    done \
  | sha256sum | cut -d' ' -f1
)
echo "$hash"
