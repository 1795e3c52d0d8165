#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/targets/Fuzz*.swift) with swiftc: each library module is
# compiled once into a static library with -sanitize=fuzzer,address (SwiftPM's -sanitize=fuzzer
# fails to link executables), then each target links against them.
#
#   fuzz/build.sh            -> $FUZZ_BUILD/fuzz-{btf,btfext,elf,core,pack,dwarf}
#   fuzz/build.sh pack:FuzzPack   one target (name:file), modules rebuilt all the same
# FUZZ_BUILD defaults to .build-fuzz/libfuzzer in the package root.
set -euo pipefail
# ld.gold warns once per ASan helper symbol; those lines are noise.
exec 2> >(grep -v "Cannot export local symbol" >&2)
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_BUILD:-$root/.build-fuzz/libfuzzer}
mkdir -p "$out"
swiftc=${SWIFTC:-swiftc}
# -O keeps Swift's bounds and overflow checks (unlike -Ounchecked): a trap is a finding.
# -package-name: the modules share `package` declarations (BTF's system-call layer), as under SwiftPM.
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -package-name BTFKit -I "$out"
       -I "$root/Sources/CLZMA" -I "$root/Sources/CZlib" -I "$root/Sources/CNettle" -I "$root/Sources/CXXHash")

# module name, then the modules it needs (already built, found through -I "$out").
build_module() {
    local module=$1
    echo "build: module $module" >&2
    "$swiftc" "${flags[@]}" -module-name "$module" -emit-module -emit-module-path "$out/$module.swiftmodule" \
        -emit-library -static -o "$out/lib$module.a" "$root/Sources/$module"/*.swift
}
build_module BTF
build_module DWARF
build_module CORE
build_module Archive
build_module Trim

link=(-L "$out" -lTrim -lArchive -lCORE -lDWARF -lBTF -llzma -lz -lnettle)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(btf:FuzzBTF btfext:FuzzBTFExt elf:FuzzELF core:FuzzCORE pack:FuzzPack dwarf:FuzzDWARF)
for target in "${targets[@]}"; do
    name=${target%%:*} file=${target#*:}
    echo "build: fuzz-$name" >&2
    "$swiftc" "${flags[@]}" -module-name "Fuzz_$name" "$root/fuzz/targets/$file.swift" "${link[@]}" -o "$out/fuzz-$name"
done
echo "built: $(ls "$out"/fuzz-* | tr '\n' ' ')" >&2
