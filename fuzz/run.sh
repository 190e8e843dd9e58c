#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 600) at the lowest CPU priority, one at a time,
# on the pinned stable toolchain (RUSTC_BOOTSTRAP=1 unlocks the flags cargo-fuzz passes).
# New inputs go to corpus-work/ (not committed); crashes to artifacts/<target>/.
# Usage: bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(filter patch_path patch_apply body)
export RUSTC_BOOTSTRAP=1
flags=(-O -a --sanitizer none)
cargo fuzz build "${flags[@]}"
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t"
    echo "== $t for ${secs}s"
    nice -n 19 cargo fuzz run "${flags[@]}" "$t" "corpus-work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -dict="dict/$t.dict" -print_final_stats=1 2>&1 | tee "logs/$t.log" | grep -E "^#[0-9]+.*(pulse|DONE)|stat::|ERROR|panicked" || true
done
