#!/usr/bin/env bash
# btf-trim at archive scale: a btfhub-shaped tree of up to 4,000 kernels, built from the shared
# kernels by hard links under distinct <distro>/<version>/<arch>/<release> names (the full btfhub
# archive has about 3,950), trimmed for the benchmark objects with 500, 1000, 2000 and 4000 kernels,
# without and with the kernel cache (--cache, warm: every archive already cached). Prints wall and
# CPU time per kernel and the peak RSS (/usr/bin/time -v): flat rows mean nothing grows per kernel
# but the per-kernel report rows (KernelSweepResult, kept by design for the coverage report).
# Then packs each size's trimmed output with btf-pack (tar.xz) and prints the same figures: the
# kernels are read one at a time and the pack is streamed to its file, so its peak RSS stays flat
# but for the xz encoder, about 12 times its dictionary, which is the smallest power of two that
# holds the tar (PackXZ); --format tar.gz (no dictionary) shows the rest.
#
# Usage: benchmarks/trim-scale.sh [BTFHUB_TREE]     (default: ../shared/btfhub-archive)
# Environment: SIZES (default "500 1000 2000 4000"), COLD_SIZES (the sizes also run without the cache;
#   default: SIZES), JOBS (default: nproc), SCRATCH (default .build), BIN (a directory with release
#   btf-trim and btf-pack already built: no build), OBJECTS (space-separated .bpf.o files; default:
#   those benchmarks/trim.sh compiles).
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${1:-${BTFKIT_SHARED_ARCHIVE:-../shared/btfhub-archive}}
TREE=$(cd "$TREE" && pwd)
SIZES=${SIZES:-500 1000 2000 4000}
JOBS=${JOBS:-$(nproc)}
SCRATCH=${SCRATCH:-.build}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

COLD_SIZES=${COLD_SIZES:-$SIZES}
if [ -n "${BIN:-}" ]; then
    bin=$BIN
else
    swift build -c release --product btf-trim --scratch-path "$SCRATCH" >&2
    swift build -c release --product btf-pack --scratch-path "$SCRATCH" >&2
    bin="$SCRATCH/release"
fi
if [ -n "${OBJECTS:-}" ]; then
    read -r -a objects <<< "$OBJECTS"
else
    # shellcheck source=benchmarks/objects.sh
    source benchmarks/objects.sh
    bench_objects "$work/obj" "$bin/btf-trim" "$TREE"
fi

mapfile -t archives < <(find "$TREE" -name '*.btf.tar.xz' | sort)
echo "building trees of $SIZES kernels from ${#archives[@]} archives (hard links) ..." >&2
# Links made with shell string operations only: 7,500 of them in a few seconds, not minutes of forks.
for n in $SIZES; do
    for ((i = 0; i < n; i++)); do
        source=${archives[$((i % ${#archives[@]}))]}
        relative=${source#"$TREE"/}            # distro/version/arch/release.btf.tar.xz
        file=${relative##*/}
        arch_dir=${relative%/*}                # distro/version/arch
        version_dir=${arch_dir%/*}             # distro/version
        # A distinct version directory per copy: distro/<version>-c<copy>/arch/release.
        target="$work/tree$n/$version_dir-c$((i / ${#archives[@]}))/${arch_dir##*/}"
        [ -d "$target" ] || mkdir -p "$target"
        ln "$source" "$target/$file"
    done
done

echo "objects: ${#objects[@]}; jobs: $JOBS; cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %8s %9s %9s %12s %12s %13s\n' "run" "kernels" "wall_s" "cpu_s" "wall_ms/krn" "cpu_ms/krn" "peak_rss_MB"
measure() {
    local name=$1 n=$2; shift 2
    /usr/bin/time -v -o "$work/time" "$@" > "$work/stdout" 2> "$work/stderr" || { echo "failed: $name" >&2; tail -n 3 "$work/stderr" >&2; }
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$work/time")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$work/time")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$work/time")
    printf '%-34s %8s %9.2f %9s %12.2f %12.2f %13s   (load %s)\n' "$name" "$n" "$wall" "$cpu" \
        "$(echo "$wall * 1000 / $n" | bc -l)" "$(echo "$cpu * 1000 / $n" | bc -l)" "$rss" "$(cut -d' ' -f1 /proc/loadavg)"
}
# The cache warmed once: every tree's archives are hard links of the same files.
"$bin/btf-trim" "${objects[@]}" "$TREE" -o "$work/prime" --cache "$work/cache" --jobs "$JOBS" >/dev/null 2>&1 || true
rm -rf "$work/prime"
for n in $SIZES; do
    if [[ " $COLD_SIZES " == *" $n "* ]]; then
        measure "btf-trim, no cache" "$n" "$bin/btf-trim" "${objects[@]}" "$work/tree$n" -o "$work/out$n" --jobs "$JOBS"
        rm -rf "$work/out$n"
    fi
    measure "btf-trim --cache (warm)" "$n" "$bin/btf-trim" "${objects[@]}" "$work/tree$n" -o "$work/out$n" --jobs "$JOBS" --cache "$work/cache"
    grep '^cache:' "$work/stderr" | sed 's/^/    /'
    measure "btf-pack of the trimmed tree" "$n" "$bin/btf-pack" "$work/out$n" -o "$work/pack$n.tar.xz"
    grep -E '^(entries|unique|raw|packed)' "$work/stdout" | paste -sd';' | sed 's/^/    /; s/;/; /g'
    # tar.gz has no dictionary to grow with the tar: what remains of btf-pack's memory, flat.
    measure "btf-pack --format tar.gz" "$n" "$bin/btf-pack" "$work/out$n" --format tar.gz -o "$work/pack$n.tar.gz"
    grep -E '^packed' "$work/stdout" | sed 's/^/    /'
    rm -rf "$work/out$n" "$work/pack$n.tar.xz" "$work/pack$n.tar.gz"
done
