#!/usr/bin/env bash
# SCIM load benchmark, side by side (issue 4): Roster on SQLite (synchronous=NORMAL, and FULL),
# Roster on PostgreSQL, python-scim's scim2-server (pinned, in memory) and the trivial actix
# ceiling, each pinned to CPU 0 with the load generator (scim-bench) pinned to CPU 1.
#
#   bash scim-tests/bench/run.sh [--users 10000[,100000]] [--seconds 10] [--requests 200000]
#        [--warmup 1] [--concurrency 16] [--targets ceiling,sqlite,sqlite-full,postgres,python]
#        [--classes LIST] [--peer-seed-seconds 300] [--out DIR]
#
# Needs cargo, python3 (>= 3.9, with venv), curl, taskset and, for PostgreSQL, psql.
# Environment:
#   ROSTER_BENCH_POSTGRES_URL  admin URL (default postgres://postgres@127.0.0.1:5432/postgres);
#                              a fresh database roster_bench_<random> is created and dropped
#   ROSTER_BENCH_VENV          virtualenv for scim2-server (default <target>/bench-venv)
#   CARGO_TARGET_DIR           respected
# Output: DIR (default <target>/bench/<date>) holds <N>-<target>.json, each server's log, and
# results.md (the markdown tables, also printed). Every server is stopped by PID on exit, every
# database it created is dropped, and every run is bounded by `timeout`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/scim-tests/bench"
cd "$REPO"

USERS="10000"; SECONDS_PER_CLASS=10; REQUESTS=200000; WARMUP=1; CONCURRENCY=16
TARGETS="ceiling,sqlite,sqlite-full,postgres,python"; CLASSES=""; PEER_SEED_SECONDS=300; OUT=""
usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { [ "$1" = -h ] || [ "$1" = --help ] && { usage; exit 0; }; echo "run.sh: $1 needs a value" >&2; exit 2; }
    case "$1" in
        --users) USERS="$2" ;;
        --seconds) SECONDS_PER_CLASS="$2" ;;
        --requests) REQUESTS="$2" ;;
        --warmup) WARMUP="$2" ;;
        --concurrency) CONCURRENCY="$2" ;;
        --targets) TARGETS="$2" ;;
        --classes) CLASSES="$2" ;;
        --peer-seed-seconds) PEER_SEED_SECONDS="$2" ;;
        --out) OUT="$2" ;;
        *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift 2
done

TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
OUT="${OUT:-$TARGET_DIR/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
VENV="${ROSTER_BENCH_VENV:-$TARGET_DIR/bench-venv}"
PG_ADMIN="${ROSTER_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
NCLASSES=9
[ -n "$CLASSES" ] && NCLASSES=$(echo "$CLASSES" | tr ',' '\n' | grep -c .)

# ---------------------------------------------------------------------------------------------
# Cleanup: only what this script started or created.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/roster-bench.XXXXXX")"
SERVER_PID=""
PG_DB=""
stop_server() {
    local pid="$1"
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
drop_db() {
    [ -n "$PG_DB" ] || return 0
    psql "$PG_ADMIN" -X -q -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null \
        || echo "bench: could not drop $PG_DB" >&2
    PG_DB=""
}
cleanup() {
    local rc=$?
    set +e
    stop_server "$SERVER_PID"
    drop_db
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
echo "== bench: cargo build --release (roster, scim-bench, ceiling)"
cargo build --release -p roster-server --bin roster -p scim-tests --bin scim-bench --bin ceiling
BIN="$TARGET_DIR/release"

if [[ ",$TARGETS," == *",python,"* ]]; then
    echo "== bench: virtualenv $VENV (scim2-server, pinned)"
    REQ_SHA="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
    STAMP="$VENV/.roster-bench-requirements.sha256"
    if ! { [ -x "$VENV/bin/scim2-server" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQ_SHA" ]; }; then
        [ -f "$STAMP" ] && rm -rf "$VENV"
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --no-deps \
            -r "$HERE/requirements.txt"
        "$VENV/bin/python" -m pip check --disable-pip-version-check
        echo "$REQ_SHA" >"$STAMP"
    fi
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_http() {   # wait_http URL PID: up to 60 s
    for _ in $(seq 1 600); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -s -o /dev/null -m 2 "$1" && return 0
        sleep 0.1
    done
    return 1
}
now() { date +%s.%N; }

# bench N NAME: start the server NAME, run scim-bench against it, stop it.
bench() {
    local n="$1" name="$2"
    local port url token="" log="$OUT/$n-$name-server.log" seed_cap=900 t0 ready
    port="$(free_port)"
    case "$name" in
        ceiling)
            url="http://127.0.0.1:$port/scim/v2"
            t0=$(now)
            taskset -c 0 "$BIN/ceiling" --listen "127.0.0.1:$port" --workers 1 >"$log" 2>&1 &
            SERVER_PID=$!
            wait_http "$url/ServiceProviderConfig" "$SERVER_PID" || { echo "bench: ceiling did not start" >&2; return 1; } ;;
        sqlite|sqlite-full|postgres)
            local db_url sync=normal
            [ "$name" = sqlite-full ] && sync=full
            if [ "$name" = postgres ]; then
                PG_DB="roster_bench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
                psql "$PG_ADMIN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
                db_url="$(python3 - "$PG_ADMIN" "$PG_DB" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[2])))
PY
)"
            else
                mkdir -p "$WORK/$name-$n"
                db_url="sqlite://$WORK/$name-$n/roster.db"
            fi
            token="$(ROSTER_SQLITE_SYNCHRONOUS=$sync "$BIN/roster" token issue --name bench \
                --scope scim.read --scope scim.write --database-url "$db_url" | tail -n 1)"
            url="http://127.0.0.1:$port/scim/v2"
            t0=$(now)
            ROSTER_SQLITE_SYNCHRONOUS=$sync NO_COLOR=1 taskset -c 0 "$BIN/roster" serve \
                --listen "127.0.0.1:$port" --database-url "$db_url" >"$log" 2>&1 &
            SERVER_PID=$!
            wait_http "http://127.0.0.1:$port/readyz" "$SERVER_PID" || { echo "bench: roster ($name) did not start; log:" >&2; tail -n 30 "$log" >&2; return 1; } ;;
        python)
            token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
            url="http://127.0.0.1:$port/v2"
            seed_cap="$PEER_SEED_SECONDS"
            t0=$(now)
            taskset -c 0 "$VENV/bin/scim2-server" --hostname 127.0.0.1 --port "$port" \
                --bearer-token "$token" >"$log" 2>&1 &
            SERVER_PID=$!
            wait_http "$url/ServiceProviderConfig" "$SERVER_PID" || { echo "bench: scim2-server did not start" >&2; return 1; } ;;
        *) echo "bench: unknown target $name" >&2; return 1 ;;
    esac
    ready=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
    echo "== bench N=$n $name: ready in ${ready}s at $url (pid $SERVER_PID)"
    # Bound: seeding cap + per class (warm-up + window + one request timeout) + margin.
    local limit
    limit=$(python3 -c "print(int($seed_cap + 120 + $NCLASSES * ($WARMUP + $SECONDS_PER_CLASS + 60)))")
    local rc=0
    SCIM_BENCH_TOKEN="$token" timeout --kill-after=10 "$limit" taskset -c 1 "$BIN/scim-bench" \
        --url "$url" --users "$n" --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_CLASS" \
        --requests "$REQUESTS" --warmup "$WARMUP" --seed-seconds "$seed_cap" --timeout 60 \
        --server-pid "$SERVER_PID" --label "$name" --json "$OUT/$n-$name.json" \
        ${CLASSES:+--classes "$CLASSES"} || rc=$?
    [ "$rc" -eq 0 ] || echo "bench: scim-bench against $name exited $rc" >&2
    stop_server "$SERVER_PID"; SERVER_PID=""
    [ "$name" = postgres ] && drop_db
    [ "$name" = sqlite ] || [ "$name" = sqlite-full ] && rm -rf "$WORK/$name-$n"
    return 0
}

echo "== bench: machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in ${USERS//,/ }; do
    for t in ${TARGETS//,/ }; do
        bench "$n" "$t" || echo "bench: $t at N=$n failed" >&2
    done
done
python3 "$HERE/table.py" "$OUT" | tee "$OUT/results.md"
echo "== bench: results in $OUT/results.md"
