#!/usr/bin/env bash
# Third-party SCIM conformance: python-scim's scim2-tester against a running Roster, on SQLite
# always and on PostgreSQL when ROSTER_TEST_POSTGRES_URL is set (issue 3, "Evidence").
#
#   bash scim-tests/conformance/run.sh [--min-checks N]
#
# Needs only python3 (>= 3.11, with venv), cargo and, for PostgreSQL, psql. It creates its own
# virtualenv and installs the pinned requirements.txt into it; nothing is installed by hand.
#
# Environment:
#   ROSTER_CONFORMANCE_VENV    virtualenv to create/reuse (default $CARGO_TARGET_DIR/conformance-venv, else <repo>/target/...)
#   ROSTER_CONFORMANCE_PYTHON  interpreter that creates the virtualenv (default python3)
#   ROSTER_TEST_POSTGRES_URL   server URL (e.g. postgres://postgres@127.0.0.1:5432/postgres);
#                              a fresh database roster_conf_<random> is created there and dropped
#   CARGO_TARGET_DIR           respected; each backend's JSON report and server log are kept in
#                              <target>/conformance/<backend>.json and <backend>-server.log
#
# Exit status: 0 when every backend passes (no failed check and at least --min-checks executed
# checks), 1 when any backend fails, 2 on a usage or set-up error.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/scim-tests/conformance"
SELF="$HERE/run.sh"
cd "$REPO"

MIN_CHECKS=135
usage() { sed -n '2,19p' "$SELF" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --min-checks)
            [ $# -ge 2 ] || { echo "run.sh: --min-checks needs a value" >&2; exit 2; }
            MIN_CHECKS="$2"; shift 2 ;;
        --min-checks=*) MIN_CHECKS="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (usage: run.sh [--min-checks N])" >&2; exit 2 ;;
    esac
done
case "$MIN_CHECKS" in
    ''|*[!0-9]*) echo "run.sh: --min-checks must be a non-negative integer, got '$MIN_CHECKS'" >&2; exit 2 ;;
esac

TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
VENV="${ROSTER_CONFORMANCE_VENV:-$TARGET_DIR/conformance-venv}"
REQS="$HERE/requirements.txt"
REPORT_DIR="$TARGET_DIR/conformance"

# ---------------------------------------------------------------------------------------------
# Cleanup: stop only the servers this script started (by PID), drop only the databases it
# created, remove its temporary directory. Runs on every exit, failure and signal included.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/roster-conformance.XXXXXX")"
SERVER_PIDS=()
PG_DROPS=()   # "admin_url<TAB>dbname"

stop_server() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "conformance: server $pid did not stop on SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    local pid entry
    for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
        stop_server "$pid"
    done
    for entry in "${PG_DROPS[@]+"${PG_DROPS[@]}"}"; do
        local admin="${entry%%$'\t'*}" db="${entry#*$'\t'}"
        psql "$admin" -X -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null \
            || echo "conformance: could not drop PostgreSQL database $db" >&2
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
echo "== conformance: virtualenv $VENV"
BASE_PY="${ROSTER_CONFORMANCE_PYTHON:-python3}"
if ! command -v "$BASE_PY" >/dev/null; then
    echo "conformance: $BASE_PY not found (Python >= 3.11 is needed)" >&2; exit 2
fi
if ! "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "conformance: $BASE_PY is $("$BASE_PY" -V 2>&1); scim2-tester needs Python >= 3.11" >&2
    exit 2
fi
REQ_SHA="$(sha256sum "$REQS" | cut -d' ' -f1)"
STAMP="$VENV/.roster-conformance-requirements.sha256"
PY="$VENV/bin/python"
if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQ_SHA" ] && "$PY" -c 'import scim2_tester' 2>/dev/null; then
    echo "requirements unchanged (sha256 ${REQ_SHA:0:12}); reusing"
else
    # A virtualenv this script made earlier (it carries the stamp) is rebuilt from scratch so no
    # package of an older requirement set survives; anything else is only created or added to.
    if [ -f "$STAMP" ]; then
        rm -rf "$VENV"
    fi
    if [ ! -x "$PY" ]; then
        mkdir -p "$(dirname "$VENV")"
        "$BASE_PY" -m venv "$VENV"
    fi
    rm -f "$STAMP"
    # --no-deps + pip check: requirements.txt must pin the complete closure itself.
    "$PY" -m pip install --disable-pip-version-check --no-input -q --no-deps -r "$REQS"
    "$PY" -m pip check --disable-pip-version-check
    echo "$REQ_SHA" >"$STAMP"
    echo "installed requirements (sha256 ${REQ_SHA:0:12})"
fi

# ---------------------------------------------------------------------------------------------
echo "== conformance: cargo build -p roster-server --bin roster"
cargo build -p roster-server --bin roster
BIN="$TARGET_DIR/debug/roster"
if [ ! -x "$BIN" ]; then
    echo "conformance: no server binary at $BIN after the build" >&2; exit 2
fi
mkdir -p "$REPORT_DIR"

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# run_backend NAME DATABASE_URL: issue a token, start the server, run check.py, stop the server.
# Returns 0 when the backend passes.
run_backend() {
    local name="$1" db_url="$2"
    local log="$WORK/$name-server.log" report="$REPORT_DIR/$name.json"
    rm -f "$report"

    local issued token
    if ! issued="$("$BIN" token issue --name conformance --scope scim.read --scope scim.write \
            --database-url "$db_url" 2>"$WORK/$name-token.err")"; then
        echo "conformance $name: 'roster token issue' failed:" >&2
        cat "$WORK/$name-token.err" >&2
        echo "conformance $name: 0 checks, 0 success, 1 failed, 0 skipped"
        return 1
    fi
    token="$(printf '%s\n' "$issued" | tail -n 1)"

    local port pid
    port="$(free_port)"
    NO_COLOR=1 "$BIN" serve --listen "127.0.0.1:$port" --database-url "$db_url" >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")

    local up=0
    for _ in $(seq 1 600); do   # up to 60 s (the first start migrates the database)
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        if "$PY" - "http://127.0.0.1:$port/healthz" <<'EOF' 2>/dev/null
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
        then
            up=1; break
        fi
        sleep 0.1
    done
    if [ "$up" != 1 ]; then
        echo "conformance $name: the server did not become healthy on 127.0.0.1:$port; its log:" >&2
        tail -n 50 "$log" >&2 || true
        stop_server "$pid"
        echo "conformance $name: 0 checks, 0 success, 1 failed, 0 skipped"
        return 1
    fi

    echo "== conformance $name: scim2-tester against http://127.0.0.1:$port/scim/v2"
    local rc=0
    ROSTER_CONFORMANCE_TOKEN="$token" "$PY" "$HERE/check.py" \
        --url "http://127.0.0.1:$port/scim/v2" --report "$report" \
        --min-checks "$MIN_CHECKS" --label "$name" || rc=$?

    if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
        echo "conformance $name: interrupted" >&2
        exit "$rc"   # the EXIT trap stops the server and drops the database
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "conformance $name: the server died during the run; its log:" >&2
        tail -n 50 "$log" >&2 || true
        rc=1
    fi
    stop_server "$pid"
    cp "$log" "$REPORT_DIR/$name-server.log" 2>/dev/null || true
    if grep -q 'panicked' "$log"; then
        echo "conformance $name: the server panicked (log: $REPORT_DIR/$name-server.log):" >&2
        grep -A3 'panicked' "$log" | head -n 40 >&2 || true
        rc=1
    fi

    if [ -f "$report" ]; then
        "$PY" - "$report" "$name" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
print(f"conformance {sys.argv[2]}: {c['total']} checks, {c['success']} success, "
      f"{c['failed']} failed, {c['skipped']} skipped")
print(f"conformance {sys.argv[2]}: {'ok' if r['ok'] else 'FAIL'} (report: {sys.argv[1]})")
EOF
    else
        echo "conformance $name: 0 checks, 0 success, 1 failed, 0 skipped (check.py exited $rc without a report)"
        rc=1
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------------------------
PASSED=0
FAILED=0
SUMMARY=()
record() {   # record NAME RC
    if [ "$2" -eq 0 ]; then PASSED=$((PASSED + 1)); SUMMARY+=("$1: ok")
    else FAILED=$((FAILED + 1)); SUMMARY+=("$1: FAILED"); fi
}

# SQLite: a fresh database file.
mkdir -p "$WORK/sqlite"
rc=0
run_backend sqlite "sqlite://$WORK/sqlite/roster.db" || rc=$?
record sqlite "$rc"

# PostgreSQL: a fresh database on the given server, dropped on exit.
if [ -n "${ROSTER_TEST_POSTGRES_URL:-}" ]; then
    if ! command -v psql >/dev/null; then
        echo "conformance postgres: psql not found" >&2
        record postgres 1
    else
        PG_DB="roster_conf_$("$PY" -c 'import secrets; print(secrets.token_hex(6))')"
        PG_URL="$("$PY" - "$ROSTER_TEST_POSTGRES_URL" "$PG_DB" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[2])))
EOF
)"
        rc=0
        if psql "$ROSTER_TEST_POSTGRES_URL" -X -q -v ON_ERROR_STOP=1 \
                -c "CREATE DATABASE \"$PG_DB\"" >/dev/null; then
            PG_DROPS+=("$ROSTER_TEST_POSTGRES_URL"$'\t'"$PG_DB")
            run_backend postgres "$PG_URL" || rc=$?
        else
            echo "conformance postgres: could not create database $PG_DB" >&2
            rc=1
        fi
        record postgres "$rc"
    fi
else
    echo "conformance postgres: not run (ROSTER_TEST_POSTGRES_URL is not set)"
fi

echo "== conformance: ${SUMMARY[*]}"
echo "conformance: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
