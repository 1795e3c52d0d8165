#!/usr/bin/env bash
# Parse speed: BTFKit's BTF(contentsOf:) against libbpf's btf__parse, on the same files, in one run.
#
# Both sides read the file and fully validate it (apples to apples): btfkit-bench times
# BTF(contentsOf:), tools/btf-check times btf__parse. Each is run RUNS times per file after nothing
# else; the table shows best and median milliseconds and BTFKit/libbpf ratios (target: <= 1.5).
#
# Usage: benchmarks/parse.sh [FILE.btf | FILE.btf.tar.xz ...]
#   Without arguments: the largest kernel under btfhub-fixtures/ (else the largest non-CentOS kernel
#   of the shared archive) and the 44 MB CentOS 8 4.18.0-147 kernel.
# Environment: RUNS (default 20), SCRATCH (swift --scratch-path, default .build),
#   BTFKIT_SHARED_ARCHIVE (default ../shared/btfhub-archive).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
SCRATCH=${SCRATCH:-.build}
SHARED=${BTFKIT_SHARED_ARCHIVE:-../shared/btfhub-archive}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building btfkit-bench (release) and btf-check ..." >&2
swift build -c release --product btfkit-bench --scratch-path "$SCRATCH" >&2
bench="$SCRATCH/release/btfkit-bench"
cc -O2 tools/btf-check.c -o "$work/btf-check" -lbpf -lelf -lz

largest() { # the largest of the files named on stdin
    xargs -r ls -S 2>/dev/null | head -n 1
}

inputs=("$@")
if [ ${#inputs[@]} -eq 0 ]; then
    fixture=$(find btfhub-fixtures -name '*.btf.tar.xz' -not -path '*/byteswapped/*' 2>/dev/null | largest || true)
    if [ -z "$fixture" ]; then
        fixture=$(find "$SHARED" -name '*.btf.tar.xz' -not -path '*/centos/*' | largest)
    fi
    centos=$(find "$SHARED/centos/8/x86_64" -name '4.18.0-147*.btf.tar.xz' | sort | head -n 1)
    inputs=("$fixture" "$centos")
fi

files=()
for input in "${inputs[@]}"; do
    if [[ "$input" == *.tar.xz ]]; then
        dir="$work/$(basename "$input" .tar.xz)"
        mkdir -p "$dir"
        tar -xJf "$input" -C "$dir"
        files+=("$dir/$(basename "$input" .tar.xz)")
    else
        files+=("$input")
    fi
done

field() { # field NAME LINE: the word after NAME
    awk -v name="$1" '{ for (i = 1; i < NF; i++) if ($i == name) print $(i + 1) }' <<<"$2"
}

printf '%-40s %9s %9s %9s %7s %10s %10s %7s %8s\n' file MB "BTFKit" "libbpf" ratio "BTFKit-med" "libbpf-med" ratio types
for file in "${files[@]}"; do
    kit=$("$bench" parse --runs "$RUNS" "$file")
    lib=$("$work/btf-check" parse-time "$file" "$RUNS")
    kit_types=$(field types "$kit"); lib_types=$(field types "$lib")
    if [ "$kit_types" != "$lib_types" ]; then
        echo "type counts differ for $file: BTFKit $kit_types, libbpf $lib_types" >&2
        exit 1
    fi
    kb=$(field best_ms "$kit"); km=$(field median_ms "$kit")
    lb=$(field best_ms "$lib"); lm=$(field median_ms "$lib")
    size=$(stat -c %s "$file")
    awk -v f="$(basename "$file")" -v s="$size" -v kb="$kb" -v lb="$lb" -v km="$km" -v lm="$lm" -v t="$kit_types" \
        'BEGIN { printf "%-40s %9.1f %9.2f %9.2f %7.2f %10.2f %10.2f %7.2f %8d\n", f, s / 1e6, kb, lb, kb / lb, km, lm, km / lm, t }'
done
echo "(milliseconds per parse, best and median of $RUNS runs; ratio = BTFKit / libbpf)"
