#!/usr/bin/env bash
# Trimming a whole btfhub tree for the project's BPF objects, three ways, side by side:
#   (a) btfhub's approach: a loop of `tar -xJf` + `bpftool gen min_core_btf` + cleanup per kernel
#       (as btfhub's tools/btfgen.sh does), serially and with xargs -P JOBS;
#   (b) BTFKit's `btf-trim` (release build), --jobs JOBS and --jobs 1, and with --cache: a first
#       run on an empty cache (cold: decompresses and stores) and a second one (warm: reads the cache);
#   (c) the floor: `xz -dc` of every archive to /dev/null, serially and with xargs -P JOBS
#       (no tool can trim faster than it can decompress).
# Each line shows wall time, CPU time (user + system, all processes of the run) and peak RSS from
# /usr/bin/time -v. Peak RSS is that of the largest single process of the run (wait4 semantics), not
# the sum over parallel processes. On a shared, busy machine wall times drift; CPU time is steadier.
#
# Objects: every program of the repository with CO-RE relocations (bpf/*.bpf.c, bpf/runner, bpf/tools)
# and the libbpf-tools-style programs of bpf/bench-tools (benchmarks/objects.sh), 53 in all.
#
# Usage: benchmarks/trim.sh [BTFHUB_TREE]      (default: ../shared/btfhub-archive)
# Environment: JOBS (default: nproc), ROUNDS (default 5: rounds of cold trim, floor and warm trim run
#   back to back, whose medians give the ratios that do not depend on how fast the machine was in
#   one half minute; 0 leaves them out), SCRATCH (swift --scratch-path, default .build),
#   BTFKIT_SHARED_ARCHIVE (default tree), OBJECTS (space-separated .bpf.o files to use instead;
#   e.g. to leave out an object bpftool refuses on some kernels), SKIP_BTFHUB=1 (leave out (a)).
# Note: bpftool gen min_core_btf refuses a whole kernel when any relocation fails there (libbpf would
# reject it); such kernels are counted as failures of (a) and cost it less time than a real trim.
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${1:-${BTFKIT_SHARED_ARCHIVE:-../shared/btfhub-archive}}
TREE=$(cd "$TREE" && pwd)
JOBS=${JOBS:-$(nproc)}
SCRATCH=${SCRATCH:-.build}
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)

if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: installing it (apt-get install -y time); CI must install it too" >&2
    apt-get install -y time >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building btf-trim (release) and compiling the objects ..." >&2
swift build -c release --product btf-trim --scratch-path "$SCRATCH" >&2
btf_trim="$SCRATCH/release/btf-trim"
objects=()
if [ -n "${OBJECTS:-}" ]; then
    read -r -a objects <<< "$OBJECTS"
else
    # shellcheck source=benchmarks/objects.sh
    source benchmarks/objects.sh
    bench_objects "$work/obj" "$btf_trim" "$TREE"
fi

find "$TREE" -name '*.btf.tar.xz' | sort > "$work/archives"
kernels=$(wc -l < "$work/archives")

# btfhub's per-kernel step, run by the loops below: extract, trim, clean up.
cat > "$work/btfhub-one.sh" <<SCRIPT
#!/usr/bin/env bash
archive=\$1; out=\$2
relative=\${archive#$TREE/}
tmp=\$(mktemp -d -p "$work/tmp")
tar -xJf "\$archive" -C "\$tmp"
target="\$out/\${relative%.tar.xz}"
mkdir -p "\$(dirname "\$target")"
if ! "$BPFTOOL" gen min_core_btf "\$tmp"/*.btf "\$target" ${objects[*]} >/dev/null 2>"\$tmp/err"; then
    echo "\$relative: \$(tail -n 1 "\$tmp/err")" >> "\$out.failures"
fi
rm -rf "\$tmp"
SCRIPT
chmod +x "$work/btfhub-one.sh"
mkdir -p "$work/tmp"

echo "objects: ${objects[*]##*/}; jobs: $JOBS; cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME COMMAND...: runs COMMAND under /usr/bin/time -v, prints one table row.
# OUT (if set) is the output tree, for counting files and bytes.
printf '%-46s %9s %8s %13s %9s %12s\n' "approach ($kernels kernels, ${#objects[@]} objects)" "wall_s" "cpu_s" "peak_rss_MB" "outputs" "bytes_out"
measure() {
    local name=$1; shift
    /usr/bin/time -v -o "$work/time" "$@" > "$work/stdout" 2> "$work/stderr" || true
    local wall cpu rss files=- bytes=-
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$work/time")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$work/time")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$work/time")
    if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
        files=$(find "$OUT" -type f -name '*.btf' | wc -l)
        bytes=$(find "$OUT" -type f -name '*.btf' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    fi
    printf '%-46s %9.2f %8s %13s %9s %12s   (load %s)\n' "$name" "$wall" "$cpu" "$rss" "$files" "$bytes" "$(cut -d' ' -f1 /proc/loadavg)"
    LAST_WALL=$wall; LAST_CPU=$cpu
    if [ -n "${OUT:-}" ] && [ -s "$OUT.failures" ]; then
        echo "    failed on $(wc -l < "$OUT.failures") kernels, e.g. $(head -n 1 "$OUT.failures")"
    fi
}

if [ -z "${SKIP_BTFHUB:-}" ]; then
OUT="$work/a1" measure "(a) tar -xJf + bpftool min_core_btf, serial" \
    bash -c "while read -r a; do '$work/btfhub-one.sh' \"\$a\" '$work/a1'; done < '$work/archives'"
OUT="$work/a2" measure "(a) same, xargs -P $JOBS" \
    bash -c "xargs -P '$JOBS' -I{} '$work/btfhub-one.sh' {} '$work/a2' < '$work/archives'"
fi
mkdir -p "$work/a1"
OUT="$work/b1" measure "(b) btf-trim --jobs $JOBS (release)" "$btf_trim" "${objects[@]}" "$TREE" -o "$work/b1" --jobs "$JOBS"
b1_wall=$LAST_WALL; b1_cpu=$LAST_CPU
grep -E '^(kernels|relocations|bytes|time):' "$work/stderr" | sed 's/^/    /' || true
grep -E '^error:' "$work/stderr" | head -n 3 | sed 's/^/    /' || true
# Cross-check against bpftool for the kernels it trimmed: byte-identical files, and identical
# `bpftool btf dump` text (same types, ids and names; the string table may be ordered differently).
same_bytes=0; same_dump=0; compared=0
while read -r file; do
    relative=${file#$work/a1/}
    compared=$((compared + 1))
    if cmp -s "$file" "$work/b1/$relative"; then same_bytes=$((same_bytes + 1)); fi
    if cmp -s <("$BPFTOOL" btf dump file "$file") <("$BPFTOOL" btf dump file "$work/b1/$relative" 2>&1); then
        same_dump=$((same_dump + 1))
    fi
done < <(find "$work/a1" -type f -name '*.btf')
echo "    against bpftool's $compared outputs: $same_dump with identical btf dump, $same_bytes byte-identical"
OUT="$work/b2" measure "(b) btf-trim --jobs 1 (release)" "$btf_trim" "${objects[@]}" "$TREE" -o "$work/b2" --jobs 1
OUT="$work/b3" measure "(b) btf-trim --jobs $JOBS --cache, cold" "$btf_trim" "${objects[@]}" "$TREE" -o "$work/b3" --jobs "$JOBS" --cache "$work/cache"
grep -E '^cache:' "$work/stderr" | sed 's/^/    /' || true
OUT="$work/b4" measure "(b) btf-trim --jobs $JOBS --cache, warm" "$btf_trim" "${objects[@]}" "$TREE" -o "$work/b4" --jobs "$JOBS" --cache "$work/cache"
b4_wall=$LAST_WALL; b4_cpu=$LAST_CPU
grep -E '^cache:' "$work/stderr" | sed 's/^/    /' || true
for run in b2 b3 b4; do
    if diff -r -q "$work/b1" "$work/$run" > /dev/null; then echo "    $run: outputs byte-identical to --jobs $JOBS without cache"
    else echo "    $run: OUTPUTS DIFFER from --jobs $JOBS without cache"; fi
done
echo "    cache: $(du -sb "$work/cache" | cut -f1) bytes on disk for $kernels kernels"
OUT="" measure "(c) floor: xz -dc > /dev/null, serial" \
    bash -c "while read -r a; do xz -dc \"\$a\" > /dev/null; done < '$work/archives'"
OUT="" measure "(c) floor: xz -dc > /dev/null, xargs -P $JOBS" \
    bash -c "xargs -P '$JOBS' -I{} sh -c 'xz -dc \"\$1\" > /dev/null' _ {} < '$work/archives'"
c2_wall=$LAST_WALL; c2_cpu=$LAST_CPU
ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo "btf-trim against the floor (xargs -P $JOBS), single runs above: cold ${b1_cpu}/${c2_cpu} s CPU = $(ratio "$b1_cpu" "$c2_cpu")x, ${b1_wall}/${c2_wall} s wall = $(ratio "$b1_wall" "$c2_wall")x;" \
    "warm cache ${b4_wall}/${c2_wall} s wall = $(ratio "$b4_wall" "$c2_wall")x, ${b4_cpu}/${c2_cpu} s CPU = $(ratio "$b4_cpu" "$c2_cpu")x"

# The single runs above are half a minute apart, and on a shared machine the speed of a core drifts
# by 10% and more over such spans. So the ratios are measured again in ROUNDS rounds, each running
# the cold trim, the floor and the warm trim back to back; the medians of each are compared.
ROUNDS=${ROUNDS:-5}
if [ "$ROUNDS" -gt 0 ]; then
    : > "$work/rounds"
    for round in $(seq "$ROUNDS"); do
        for run in cold floor warm; do
            case $run in
                cold) set -- "$btf_trim" "${objects[@]}" "$TREE" -o "$work/r1" --jobs "$JOBS" ;;
                floor) set -- bash -c "xargs -P '$JOBS' -I{} sh -c 'xz -dc \"\$1\" > /dev/null' _ {} < '$work/archives'" ;;
                warm) set -- "$btf_trim" "${objects[@]}" "$TREE" -o "$work/r2" --jobs "$JOBS" --cache "$work/cache" ;;
            esac
            /usr/bin/time -f "$run %e %U %S" -a -o "$work/rounds" "$@" > /dev/null 2>&1 || true
        done
    done
    awk -v rounds="$ROUNDS" -v jobs="$JOBS" '
        { wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " ($3 + $4) }
        function median(list,    n, v, i, j, t) {
            n = split(list, v, " ")
            for (i = 1; i <= n; i++) v[i] += 0
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        END {
            for (run in wall) { w[run] = median(wall[run]); c[run] = median(cpu[run]) }
            printf "medians of %d rounds (cold trim, floor, warm trim back to back): cold %.2f s wall, %.2f s CPU; floor %.2f s, %.2f s CPU; warm %.2f s, %.2f s CPU\n",
                rounds, w["cold"], c["cold"], w["floor"], c["floor"], w["warm"], c["warm"]
            printf "    CPU per round, cold:%s; floor:%s\n", cpu["cold"], cpu["floor"]
            printf "btf-trim against the floor (xargs -P %d), medians: cold %.3fx CPU, %.3fx wall; warm cache %.3fx CPU, %.3fx wall\n",
                jobs, c["cold"] / c["floor"], w["cold"] / w["floor"], c["warm"] / c["floor"], w["warm"] / w["floor"]
        }' "$work/rounds"
fi
