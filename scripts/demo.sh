#!/usr/bin/env bash
# The main job on the bundled data: compile the project's BPF programs, trim every kernel in
# btfhub-fixtures/ for them, and show what one trimmed kernel holds. Output goes to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product btf-trim
swift build -c release --product btf-dump
bin=$(swift build -c release --show-bin-path)
mkdir -p out/objects
for src in bpf/*.bpf.c; do
    obj=out/objects/$(basename "${src%.c}").o
    clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I bpf/include -c "$src" -o "$obj"
done
"$bin/btf-trim" out/objects/*.bpf.o btfhub-fixtures -o out/trimmed
echo
echo "== out/trimmed (raw BTF per kernel) =="
find out/trimmed -name '*.btf' -printf '%8s bytes  %P\n' | sort -k3
first=$(find out/trimmed -name '*.btf' | sort | head -n 1)
echo
echo "== btf-dump $first (first 25 types) =="
"$bin/btf-dump" "$first" | head -n 25
