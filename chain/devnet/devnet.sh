#!/usr/bin/env bash
# DecentralML local devnet: runs the runtime wasm (from a raw chain spec) in Chopsticks.
#
#   devnet.sh start    start in the background, wait until JSON-RPC answers, print the ws URL
#   devnet.sh run      run in the foreground (logs to the terminal; Ctrl-C stops it)
#   devnet.sh stop     stop the background devnet (by the PID in the pid file, never by name)
#   devnet.sh reset    stop + delete the chain database (next start begins at genesis)
#   devnet.sh status   running or not, PID, URL, best block, db size
#   devnet.sh logs     follow the log file
#   devnet.sh spec     (re)build the raw chain spec from the runtime wasm with build-spec.mjs
#
# Environment (defaults in brackets):
#   DML_CHAIN_SPEC     raw chain spec   [<repo>/chain/artifacts/dev-spec.raw.json]
#   DML_CHAIN_WASM     runtime wasm for `spec` / a missing spec
#                      [<repo>/chain/artifacts/decentralml_runtime.compact.compressed.wasm]
#   DML_CHAIN_PORT     JSON-RPC port (WS + HTTP)                [9944]
#   DML_CHAIN_HOST     address it listens on                    [127.0.0.1]
#   DML_DEVNET_DIR     state dir: chain.sqlite, chopsticks.log, chopsticks.pid  [<repo>/.devnet]
#   DML_RUNTIME_LOG_LEVEL  0 off .. 5 trace   [0]
#   DML_BLOCK_MODE     Instant: a block per extrinsic; Batch: one block for what arrives within
#                      0.1 s of the last (at most 1 s), as a real chain packs many   [Instant]
#   DML_START_TIMEOUT  seconds to wait for the RPC on `start`   [180]
#   DML_NPM_CACHE      npm cache used when node_modules is missing   [~/.cache/decentralml/npm]
#   LOG_LEVEL          chopsticks' own log level (fatal|error|warn|info|debug|trace)  [info]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

export DML_CHAIN_SPEC="${DML_CHAIN_SPEC:-$REPO_ROOT/chain/artifacts/dev-spec.raw.json}"
DML_CHAIN_WASM="${DML_CHAIN_WASM:-$REPO_ROOT/chain/artifacts/decentralml_runtime.compact.compressed.wasm}"
export DML_CHAIN_PORT="${DML_CHAIN_PORT:-9944}"
export DML_CHAIN_HOST="${DML_CHAIN_HOST:-127.0.0.1}"
export DML_DEVNET_DIR="${DML_DEVNET_DIR:-$REPO_ROOT/.devnet}"
export DML_RUNTIME_LOG_LEVEL="${DML_RUNTIME_LOG_LEVEL:-0}"
export DML_BLOCK_MODE="${DML_BLOCK_MODE:-Instant}"
DML_START_TIMEOUT="${DML_START_TIMEOUT:-180}"
DML_NPM_CACHE="${DML_NPM_CACHE:-$HOME/.cache/decentralml/npm}"

CONFIG="$SCRIPT_DIR/chopsticks.yml"
CHOPSTICKS="$SCRIPT_DIR/node_modules/@acala-network/chopsticks/chopsticks.cjs"
PID_FILE="$DML_DEVNET_DIR/chopsticks.pid"
LOG_FILE="$DML_DEVNET_DIR/chopsticks.log"
DB_FILE="$DML_DEVNET_DIR/chain.sqlite"
SPEC_HASH_FILE="$DML_DEVNET_DIR/chain.sqlite.spec-sha256"
HOST=$DML_CHAIN_HOST
URL="ws://$HOST:$DML_CHAIN_PORT"

log() { printf 'devnet: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

check_inputs() {
  [[ "$DML_CHAIN_PORT" =~ ^[0-9]+$ ]] && ((DML_CHAIN_PORT > 0 && DML_CHAIN_PORT < 65536)) ||
    die "DML_CHAIN_PORT must be a TCP port number, got '$DML_CHAIN_PORT'"
  [[ "$DML_RUNTIME_LOG_LEVEL" =~ ^[0-5]$ ]] || die "DML_RUNTIME_LOG_LEVEL must be 0..5, got '$DML_RUNTIME_LOG_LEVEL'"
  [[ "$DML_BLOCK_MODE" == Instant || "$DML_BLOCK_MODE" == Batch ]] ||
    die "DML_BLOCK_MODE must be Instant or Batch, got '$DML_BLOCK_MODE'"
  # Chopsticks reads these from the environment and they would override our config.
  unset PORT
}

# node_modules present, chopsticks installed, and our patches applied (patches/: resume, and no
# unchanged runtime code in a block's saved storage diff).
ensure_deps() {
  command -v node >/dev/null || die "node is not installed"
  if [[ ! -f "$CHOPSTICKS" ]]; then
    log "node_modules missing: running npm ci (cache: $DML_NPM_CACHE)"
    (cd "$SCRIPT_DIR" && npm ci --cache "$DML_NPM_CACHE") >&2 || die "npm ci failed"
  fi
  local f file
  for f in cjs esm; do
    for file in setup.js blockchain/index.js blockchain/block-builder.js; do
      grep -q 'DecentralML patch' "$SCRIPT_DIR/node_modules/@acala-network/chopsticks-core/dist/$f/$file" ||
        die "chopsticks-core patch is not applied ($f/$file); run: (cd $SCRIPT_DIR && npx patch-package)"
    done
  done
}

ensure_dir() {
  mkdir -p "$DML_DEVNET_DIR"
  # The state dir may sit inside the repo: keep it out of git without touching repo files.
  [[ -f "$DML_DEVNET_DIR/.gitignore" ]] || printf '*\n' >"$DML_DEVNET_DIR/.gitignore"
}

build_spec() {
  [[ -f "$DML_CHAIN_WASM" ]] || die "runtime wasm not found: $DML_CHAIN_WASM (build the runtime first or set DML_CHAIN_WASM)"
  log "building raw chain spec from $DML_CHAIN_WASM"
  node "$SCRIPT_DIR/build-spec.mjs" --wasm "$DML_CHAIN_WASM" --preset development --out "$DML_CHAIN_SPEC" >&2 ||
    die "build-spec.mjs failed"
}

ensure_spec() {
  if [[ ! -f "$DML_CHAIN_SPEC" ]]; then
    [[ -f "$DML_CHAIN_WASM" ]] ||
      die "chain spec not found: $DML_CHAIN_SPEC (and no wasm at $DML_CHAIN_WASM to build it from)"
    build_spec
  elif [[ -f "$DML_CHAIN_WASM" && "$DML_CHAIN_WASM" -nt "$DML_CHAIN_SPEC" ]]; then
    log "warning: $DML_CHAIN_WASM is newer than $DML_CHAIN_SPEC; run '$0 spec' and '$0 reset' to use it"
  fi
  DML_CHAIN_SPEC="$(cd "$(dirname "$DML_CHAIN_SPEC")" && pwd)/$(basename "$DML_CHAIN_SPEC")"
  export DML_CHAIN_SPEC
}

# The db only makes sense with the genesis it was created from.
check_db_matches_spec() {
  local want have
  want="$(sha256sum "$DML_CHAIN_SPEC" | cut -d' ' -f1)"
  if [[ -f "$DB_FILE" ]]; then
    have="$(cat "$SPEC_HASH_FILE" 2>/dev/null || true)"
    if [[ -n "$have" && "$have" != "$want" ]]; then
      die "the db at $DB_FILE was created from a different chain spec; run '$0 reset' to start over"
    fi
  fi
  printf '%s\n' "$want" >"$SPEC_HASH_FILE"
}

# PID from the pid file if that process is alive and is our chopsticks; empty otherwise.
running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 0
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'chopsticks' || return 0
  printf '%s\n' "$pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/$HOST/$DML_CHAIN_PORT") 2>/dev/null
}

# One JSON-RPC call over HTTP; prints the JSON result, fails on error/no answer.
rpc() {
  local method="$1" params="${2:-[]}"
  node -e '
    const [url, method, params] = process.argv.slice(1);
    fetch(url, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: JSON.parse(params) }),
      signal: AbortSignal.timeout(5000) })
      .then((r) => r.json())
      .then((j) => { if (j.error) { console.error(JSON.stringify(j.error)); process.exit(1); }
                     console.log(JSON.stringify(j.result)); })
      .catch(() => process.exit(1));
  ' "http://$HOST:$DML_CHAIN_PORT" "$method" "$params" 2>/dev/null
}

# Sets ALREADY_RUNNING to the PID of a running devnet (then nothing else is checked).
ALREADY_RUNNING=
prepare_start() {
  check_inputs
  ensure_deps
  ensure_dir
  ensure_spec
  ALREADY_RUNNING="$(running_pid)"
  [[ -z "$ALREADY_RUNNING" ]] || return 0
  rm -f "$PID_FILE"
  # Chopsticks silently moves to the next free port when the requested one is taken: refuse instead.
  port_in_use && die "port $DML_CHAIN_PORT on $HOST is already in use (set DML_CHAIN_PORT)"
  check_db_matches_spec
}

cmd_start() {
  prepare_start
  if [[ -n "$ALREADY_RUNNING" ]]; then
    log "already running (pid $ALREADY_RUNNING)"
    rpc system_chain >/dev/null || die "pid $ALREADY_RUNNING runs but $URL does not answer"
    echo "devnet ready at $URL"
    return 0
  fi
  {
    printf '\n==== %s devnet start: spec=%s port=%s db=%s\n' \
      "$(date -u +%FT%TZ)" "$DML_CHAIN_SPEC" "$DML_CHAIN_PORT" "$DB_FILE"
  } >>"$LOG_FILE"
  local log_start
  log_start=$(($(wc -l <"$LOG_FILE") + 1))
  # setsid: own session, so the devnet outlives this shell and its terminal.
  (cd "$SCRIPT_DIR" && exec setsid node "$CHOPSTICKS" --config "$CONFIG" >>"$LOG_FILE" 2>&1 </dev/null) &
  local pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  log "started chopsticks (pid $pid), log: $LOG_FILE"

  local deadline=$((SECONDS + DML_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log "chopsticks exited during start-up; last log lines:"
      tail -n +"$log_start" "$LOG_FILE" | tail -n 40 >&2
      exit 1
    fi
    if tail -n +"$log_start" "$LOG_FILE" | grep -q "RPC listening on http://$HOST:$DML_CHAIN_PORT\b" &&
      rpc system_chain >/dev/null; then
      echo "devnet ready at $URL"
      return 0
    fi
    sleep 1
  done
  log "no JSON-RPC answer on $URL after ${DML_START_TIMEOUT}s; stopping pid $pid. Last log lines:"
  tail -n +"$log_start" "$LOG_FILE" | tail -n 40 >&2
  stop_pid "$pid"
  exit 1
}

cmd_run() {
  prepare_start
  [[ -z "$ALREADY_RUNNING" ]] || die "a devnet is already running (pid $ALREADY_RUNNING); '$0 stop' it first"
  log "running in the foreground on $URL (Ctrl-C to stop)"
  cd "$SCRIPT_DIR"
  printf '%s\n' "$$" >"$PID_FILE" # exec keeps this PID
  exec node "$CHOPSTICKS" --config "$CONFIG"
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not exit after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$PID_FILE"
}

# Chopsticks writes blocks to the db asynchronously: wait (up to 15 s) until the db holds the
# current head, so a stop right after an extrinsic's inclusion loses nothing.
wait_for_db_flush() {
  local head stored i
  head="$(rpc chain_getHeader | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(parseInt(JSON.parse(s).number,16))}catch{console.log("")}})')" || return 0
  [[ "$head" =~ ^[0-9]+$ ]] || return 0
  for ((i = 0; i < 150; i++)); do
    stored="$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select coalesce(max(number),-1) from block").fetchone()[0])' "$DB_FILE" 2>/dev/null)" || stored=-1
    ((stored >= head)) && return 0
    sleep 0.1
  done
  log "warning: the db holds block #$stored but the head is #$head; the newest blocks may be lost"
}

cmd_stop() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    [[ -f "$PID_FILE" ]] && { log "removing stale pid file"; rm -f "$PID_FILE"; }
    echo "devnet not running"
    return 0
  fi
  wait_for_db_flush
  stop_pid "$pid"
  echo "devnet stopped (pid $pid)"
}

cmd_reset() {
  cmd_stop
  rm -f "$DB_FILE" "$DB_FILE-journal" "$DB_FILE-wal" "$DB_FILE-shm" "$SPEC_HASH_FILE"
  echo "devnet db deleted ($DB_FILE)"
}

cmd_status() {
  local pid head
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    head="$(rpc chain_getHeader | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(parseInt(JSON.parse(s).number,16))}catch{console.log("?")}})')" ||
      head="?"
    echo "devnet running: pid $pid, $URL, best block #$head"
  else
    echo "devnet not running"
  fi
  echo "  state dir: $DML_DEVNET_DIR"
  if [[ -f "$DB_FILE" ]]; then
    echo "  db:        $DB_FILE ($(du -h "$DB_FILE" | cut -f1))"
  else
    echo "  db:        none (next start begins at genesis)"
  fi
  echo "  spec:      $DML_CHAIN_SPEC"
  echo "  log:       $LOG_FILE"
  [[ -n "$pid" ]]
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log file at $LOG_FILE"
  exec tail -n 50 -F "$LOG_FILE"
}

cmd_spec() {
  check_inputs
  ensure_deps
  build_spec
}

case "${1:-}" in
start) cmd_start ;;
run) cmd_run ;;
stop) cmd_stop ;;
reset) cmd_reset ;;
status) cmd_status ;;
logs) cmd_logs ;;
spec) cmd_spec ;;
-h | --help | help) usage ;;
*)
  usage >&2
  exit 2
  ;;
esac
