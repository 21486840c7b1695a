#!/usr/bin/env bash
# The content store: a Kubo (IPFS) daemon with a loopback-only configuration.
#
#   scripts/ipfs.sh install   build Kubo from the Go module proxy into the cache (once per version)
#   scripts/ipfs.sh start     init a repo if needed and start the daemon; prints its API URL
#   scripts/ipfs.sh stop      stop the daemon this script started (by its recorded PID)
#   scripts/ipfs.sh status
#
# DML_IPFS_DIR (default .dml/ipfs) holds the repo, DML_IPFS_PORT (5001) is the RPC API port.
# DML_IPFS_SWARM (default /ip4/127.0.0.1/tcp/0) is where it listens for peers, and DML_IPFS_PEERS
# (a JSON list of {"ID": ..., "Addrs": [...]}, default none) the peers it keeps connected to
# (Kubo's Peering.Peers): a worker's Kubo peers with its coordinator's over the private network.
# No bootstrap peers, no MDNS, no routing, no AutoConf: it talks to nothing else.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=v0.43.0 # v0.43.1 replaces go-libp2p with a fork the module proxy does not serve
CACHE=${CACHE:-$HOME/.cache/decentralml}
BIN="$CACHE/kubo-$VERSION/ipfs"
PORT=${DML_IPFS_PORT:-5001}
SWARM=${DML_IPFS_SWARM:-/ip4/127.0.0.1/tcp/0}
PEERS=${DML_IPFS_PEERS:-[]}
export IPFS_PATH=${DML_IPFS_DIR:-$ROOT/.dml/ipfs}
PIDFILE="$IPFS_PATH/daemon.pid"
API="http://127.0.0.1:$PORT"

install() {
    [[ -x "$BIN" ]] && return 0
    command -v go >/dev/null || { echo "ipfs: Go >= 1.26 is needed to build Kubo" >&2; exit 1; }
    export GOPATH="$CACHE/go" GOCACHE="$CACHE/go-build" GOFLAGS="-modcacherw -buildvcs=false"
    echo "ipfs: building Kubo $VERSION (a few minutes, once)" >&2
    go mod download "github.com/ipfs/kubo@$VERSION"
    local src
    src=$(mktemp -d)
    cp -r "$GOPATH/pkg/mod/github.com/ipfs/kubo@$VERSION/." "$src"
    chmod -R u+w "$src"
    (cd "$src" && go build -trimpath -o "$BIN.tmp" ./cmd/ipfs)
    mv "$BIN.tmp" "$BIN"
    rm -rf "$src"
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

configure() {
    "$BIN" init --profile test >/dev/null
    "$BIN" config Addresses.API "/ip4/127.0.0.1/tcp/$PORT"
    "$BIN" config Addresses.Gateway ""
    "$BIN" config --json Addresses.Swarm '["/ip4/127.0.0.1/tcp/0"]'
    "$BIN" config --json Bootstrap '[]'
    "$BIN" config --json Discovery.MDNS.Enabled false
    "$BIN" config Routing.Type none
    "$BIN" config --json AutoConf.Enabled false 2>/dev/null || true
}

start() {
    install
    if running; then
        echo "ipfs: already running (pid $(cat "$PIDFILE"))" >&2
        echo "$API"
        return
    fi
    mkdir -p "$IPFS_PATH"
    [[ -f "$IPFS_PATH/config" ]] || configure
    "$BIN" config Addresses.API "/ip4/127.0.0.1/tcp/$PORT"
    "$BIN" config --json Addresses.Swarm "[\"$SWARM\"]"
    "$BIN" config --json Peering.Peers "$PEERS"
    nohup "$BIN" daemon --migrate=false >"$IPFS_PATH/daemon.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 300); do
        if curl -s -X POST "$API/api/v0/version" >/dev/null 2>&1; then
            echo "ipfs: Kubo $VERSION on $API (repo $IPFS_PATH)" >&2
            echo "$API"
            return
        fi
        running || { cat "$IPFS_PATH/daemon.log" >&2; echo "ipfs: the daemon exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "ipfs: no API on $API after 30 s" >&2
    exit 1
}

stop() {
    if running; then
        local pid
        pid=$(cat "$PIDFILE")
        kill "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "ipfs: stopped (pid $pid)" >&2
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running on $API (pid $(cat "$PIDFILE"))"; else echo "stopped"; fi ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
