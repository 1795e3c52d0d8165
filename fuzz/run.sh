#!/usr/bin/env bash
# Builds the fuzz targets, builds the seed corpora, and runs every target for FUZZ_SECONDS
# (default 600), FUZZ_JOBS targets at a time (default 2).
#
#   fuzz/run.sh                 all targets: btf btfext elf core pack dwarf
#   fuzz/run.sh core pack       some of them
# Environment: FUZZ_SECONDS, FUZZ_JOBS, FUZZ_SKIP_BUILD=1 (reuse the binaries), FUZZ_DIR (work
# directory, default .build-fuzz), BTF_TRIM / BTF_PACK (tools make-corpus.sh uses).
# Each target keeps its growing corpus in $FUZZ_DIR/corpus/<target>, its crash inputs in
# $FUZZ_DIR/crashes/<target>/ and its log in $FUZZ_DIR/logs/<target>.log. A crash does not end
# the run: the target restarts for the time left. Reproducers worth keeping go to
# Tests/EndToEndTests/Fixtures/fuzz-crashes/<target>/, where FuzzRegressionTests replays them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${FUZZ_DIR:-$root/.build-fuzz}
seconds=${FUZZ_SECONDS:-600}
jobs=${FUZZ_JOBS:-2}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(btf btfext elf core pack dwarf)
bin=$work/libfuzzer

[[ ${FUZZ_SKIP_BUILD:-0} == 1 ]] || FUZZ_BUILD=$bin "$root/fuzz/build.sh"
[[ -f $work/corpus-seed/objects/list ]] || "$root/fuzz/make-corpus.sh" "$work/corpus-seed"
BTFKIT_FUZZ_OBJECTS=$(paste -sd: "$work/corpus-seed/objects/list")
export BTFKIT_FUZZ_OBJECTS

# Runs one target until its time is used up, restarting after each crash (at most 50 times).
fuzz_one() {
    local target=$1 seconds=$2 work=$3 bin=$4
    local corpus=$work/corpus/$target crashes=$work/crashes/$target log=$work/logs/$target.log
    mkdir -p "$corpus" "$crashes" "$work/logs"
    cp -n "$work/corpus-seed/$target"/* "$corpus/" 2>/dev/null || true
    : > "$log"
    local end=$(( $(date +%s) + seconds )) restarts=0
    while (( $(date +%s) < end && restarts < 50 )); do
        # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: bounded memory is part of the contract.
        "$bin/fuzz-$target" "$corpus" -max_total_time=$(( end - $(date +%s) )) -print_final_stats=1 \
            -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" >> "$log" 2>&1 || restarts=$((restarts + 1))
    done
    local executions
    executions=$(awk '/stat::number_of_executed_units/ { n += $2 } END { print n + 0 }' "$log")
    echo "$target: $executions executions in ${seconds} s, $restarts crash restarts, $(ls "$crashes" | wc -l) crash files, corpus $(ls "$corpus" | wc -l)"
}
export -f fuzz_one
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$@"' _ {} "$seconds" "$work" "$bin"
