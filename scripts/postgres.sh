#!/usr/bin/env bash
# A PostgreSQL server for the tests and for trying the production backend locally, on loopback only.
#
#   scripts/postgres.sh start    install PostgreSQL from Debian if missing, init a cluster, start it
#   scripts/postgres.sh stop     stop the cluster this script started (pg_ctl, by its pid file)
#   scripts/postgres.sh url      print the SQLAlchemy URL of its database
#
# DML_PG_DIR (default /tmp/decentralml-postgres-$DML_PG_PORT) holds the cluster; DML_PG_PORT (5432).
# Authentication is `trust` on 127.0.0.1 only: a test database, never a production one.
set -euo pipefail

PORT=${DML_PG_PORT:-5432}
DIR=${DML_PG_DIR:-/tmp/decentralml-postgres-$PORT}
USER_NAME=dml
DATABASE=dml

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$found" && "$(id -u)" == 0 ]]; then
        echo "postgres: installing PostgreSQL from Debian's packages" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
        found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    if [[ -z "$found" ]]; then
        echo "postgres: PostgreSQL is not installed; as root: apt-get install postgresql" >&2
        exit 1
    fi
    echo "$found"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's `postgres` user.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() { echo "postgresql+psycopg://$USER_NAME@127.0.0.1:$PORT/$DATABASE"; }

start() {
    local bin
    bin=$(bindir)
    if [[ ! -f "$DIR/PG_VERSION" ]]; then
        mkdir -p "$DIR"
        [[ "$(id -u)" == 0 ]] && chown postgres: "$DIR"
        chmod 700 "$DIR"
        as_owner "$bin/initdb" -D "$DIR" -U "$USER_NAME" --auth=trust --encoding=UTF8 --no-locale >/dev/null
    fi
    if as_owner "$bin/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
        echo "postgres: already running on 127.0.0.1:$PORT" >&2
    else
        as_owner "$bin/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 start \
            -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR -c fsync=off" >/dev/null
        echo "postgres: started on 127.0.0.1:$PORT (cluster $DIR)" >&2
    fi
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
        "select 1 from pg_database where datname = '$DATABASE'" | grep -q 1; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DATABASE"
    fi
    url
}

stop() {
    local bin
    bin=$(bindir)
    if [[ -f "$DIR/postmaster.pid" ]]; then
        as_owner "$bin/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
        echo "postgres: stopped" >&2
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
