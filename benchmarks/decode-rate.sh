#!/usr/bin/env bash
# benchmarks/decode-rate.sh: how many ring-buffer events per second btf-run decodes, as text and as
# JSON written to a file, beside what the kernel produced and what the full ring buffer dropped.
#
#   1. compiles bpf/tools/flood.bpf.c (one 32-byte event per system call, counted in `stats`:
#      index 0 sent, 1 dropped) and builds btf-run (release);
#   2. for text and --json: runs btf-run for SECONDS while `dd bs=1` makes system calls, output to
#      a file, and prints records decoded per second (btf-run -v's count), the event bytes, and the
#      kernel's sent/dropped counts (btf-run's own table of `stats` at exit).
#
# Not a test: figures depend on the machine. Environment: SECONDS_RUN (default 5), SCRATCH,
# BTF_RUN (a btf-run to use instead of building one).
# Needs root (BPF).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-$ROOT/.build-bench}
RUN=${SECONDS_RUN:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

clang -g -O2 -target bpf -I "$ROOT/bpf/include" -c "$ROOT/bpf/tools/flood.bpf.c" -o "$work/flood.bpf.o"
if [[ -n ${BTF_RUN:-} ]]; then
    btfrun=$BTF_RUN
else
    swift build --package-path "$ROOT" --scratch-path "$SCRATCH" -c release --product btf-run >&2
    btfrun=$SCRATCH/release/btf-run
fi

for mode in text json; do
    flags=(--event-type flood_event -v --duration "$RUN")
    [[ $mode == json ]] && flags+=(--json)
    "$btfrun" "$work/flood.bpf.o" "${flags[@]}" > "$work/out.$mode" 2> "$work/err.$mode" &
    pid=$!
    sleep 1
    timeout "$((RUN - 1))" dd if=/dev/zero of=/dev/null bs=1 count=100000000 2>/dev/null || true
    wait "$pid"
    decoded=$(grep -o '[0-9]* records decoded' "$work/err.$mode" | cut -d' ' -f1)
    # The stats table printed at exit: key 0 sent, key 1 dropped (summed over CPUs).
    if [[ $mode == json ]]; then
        sent=$(grep -o '"map":"stats"[^]]*' "$work/out.$mode" | grep -o '{"key":0,"value":[0-9]*' | grep -o '[0-9]*$' || echo 0)
        dropped=$(grep -o '"map":"stats"[^]]*' "$work/out.$mode" | grep -o '{"key":1,"value":[0-9]*' | grep -o '[0-9]*$' || echo 0)
    else
        sent=$(awk '/^stats:/ { on = 1; next } on && $1 == 0 { print $2 }' "$work/out.$mode")
        dropped=$(awk '/^stats:/ { on = 1; next } on && $1 == 1 { print $2 }' "$work/out.$mode")
    fi
    printf '%-5s decoded %10s records in %s s = %8d/s; kernel sent %s (%d bytes), dropped %s; output %s bytes\n' \
        "$mode" "$decoded" "$RUN" "$((decoded / RUN))" "${sent:-0}" "$(( ${sent:-0} * 32 ))" "${dropped:-0}" "$(stat -c %s "$work/out.$mode")"
done
