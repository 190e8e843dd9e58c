#!/usr/bin/env bash
# Instruction counts per request class for Roster (issue 4, "what bounds each class"): runs the
# release `roster` on a fresh SQLite database (synchronous=NORMAL) under
# `valgrind --tool=callgrind`, seeds it with scim-bench, and for each class zeroes the counters,
# sends a fixed number of requests and dumps the counters, so each dump holds exactly that
# class's cost. Instruction counts do not depend on the load of this shared machine.
#
#   bash scim-tests/bench/profile.sh [--users 2000] [--big-group 2000] [--requests 300]
#        [--classes get,filter,page,patch_user,patch_member,create,big_group_patch,big_group_get]
#        [--out DIR]
#
# Output in DIR (default <target>/bench-profile/<date>): callgrind.out.N (one per class, in
# order), <class>.txt (callgrind_annotate, inclusive, top functions), summary.md (Ir per request).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
USERS=2000; BIG=2000; REQUESTS=300; OUT=""
CLASSES="get,filter,page,patch_user,patch_member,create,big_group_patch,big_group_get"
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "profile.sh: $1 needs a value" >&2; exit 2; }
    case "$1" in
        --users) USERS="$2" ;;
        --big-group) BIG="$2" ;;
        --requests) REQUESTS="$2" ;;
        --classes) CLASSES="$2" ;;
        --out) OUT="$2" ;;
        *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null \
    || { echo "profile.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
OUT="${OUT:-$TARGET_DIR/bench-profile/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/roster-profile.XXXXXX")"
PID=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cargo build --release -p roster-server --bin roster -p scim-tests --bin scim-bench
BIN="$TARGET_DIR/release"
DB="sqlite://$WORK/roster.db"
export ROSTER_SQLITE_SYNCHRONOUS=normal
TOKEN="$("$BIN/roster" token issue --name profile --scope scim.read --scope scim.write \
    --database-url "$DB" | tail -n 1)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
rm -f "$OUT"/callgrind.out*
NO_COLOR=1 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$BIN/roster" serve --listen "127.0.0.1:$PORT" --database-url "$DB" >"$OUT/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 1200); do
    curl -s -o /dev/null -m 5 "http://127.0.0.1:$PORT/readyz" && break
    kill -0 "$PID" 2>/dev/null || { echo "profile.sh: server died" >&2; tail "$OUT/server.log" >&2; exit 1; }
    sleep 0.1
done
# Concurrency 4 (valgrind serialises threads anyway); every request counted, no warm-up.
SCIM_BENCH_TOKEN="$TOKEN" timeout 3600 "$BIN/scim-bench" --url "http://127.0.0.1:$PORT/scim/v2" \
    --users "$USERS" --groups 20 --big-group "$BIG" --classes "$CLASSES" --concurrency 4 \
    --requests "$REQUESTS" --seconds 3000 --warmup 0 --timeout 300 --label roster-callgrind \
    --json "$OUT/bench.json" \
    --before-class "callgrind_control -z $PID >/dev/null" \
    --after-class "callgrind_control -d \$SCIM_BENCH_CLASS $PID >/dev/null"
{
    echo "| class | requests | instructions (Ir) per request |"
    echo "| --- | ---: | ---: |"
    i=0
    for cl in ${CLASSES//,/ }; do
        i=$((i + 1))
        f="$(ls "$OUT"/callgrind.out* | grep -E "\.$i\$" | head -n 1 || true)"
        [ -n "$f" ] || { f="$(ls -v "$OUT"/callgrind.out.* | sed -n "${i}p")"; }
        [ -n "$f" ] || continue
        (callgrind_annotate --inclusive=yes "$f" 2>/dev/null || true) >"$OUT/$cl.full.txt"
        head -n 80 "$OUT/$cl.full.txt" >"$OUT/$cl.txt"; rm -f "$OUT/$cl.full.txt"
        total="$(grep -m1 -E '^[0-9,]+ +\(100' "$OUT/$cl.txt" | awk '{gsub(",","",$1); print $1}')"
        n="$(python3 -c "import json,sys; d=json.load(open('$OUT/bench.json')); print(next(c['ok']+c['errors'] for c in d['classes'] if c['class']=='$cl'))")"
        echo "| $cl | $n | $(python3 -c "print(f'{${total:-0}/max($n,1):,.0f}')") |"
    done
} | tee "$OUT/summary.md"
echo "profile: $OUT"
