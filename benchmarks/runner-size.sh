#!/usr/bin/env bash
# benchmarks/runner-size.sh: how big execsnoop's runner is, and what it is made of, measured from
# the binary: the linker's map of the static btf-run (every input section placed in the file,
# attributed to the library or object it came from) and the runner's own .btfkit.* sections.
#
#   1. builds btf-pack and btf-run with a plain `swift build -c release` (Package.swift makes
#      btf-run static and stripped), asking the linker for a map (-Xlinker -Map);
#   2. compiles bpf/execsnoop.bpf.c and builds its runner with `btf-pack runner` from the shared
#      btfhub archive (85 kernels) plus this machine's kernel, trimmed on the way;
#   3. prints the runner's size by component: Swift runtime, regex libraries, Foundation,
#      swift-argument-parser, libbpf + libelf, compression (liblzma, zlib), C runtime (glibc,
#      libstdc++), the project's code, the object, the pack, and what is left (ELF headers,
#      alignment, linker-made tables).
#
# Environment: SCRATCH (swift scratch path, default .build-bench-size), TREE (a btfhub tree to
# use instead), LIMIT (bytes, default 12 MiB: exit 1 above it). Leaves $SCRATCH/execsnoop-runner
# and $SCRATCH/execsnoop.bpf.o for benchmarks/runner-startup.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-$ROOT/.build-bench-size}
ARCHIVE=${BTFKIT_SHARED_ARCHIVE:-$ROOT/../shared/btfhub-archive}
LIMIT=${LIMIT:-$((12 << 20))}
MAP="$SCRATCH/link.map"
cd "$ROOT"

build() { swift build -c release --scratch-path "$SCRATCH" -Xlinker "-Map=$MAP" --product "$1" >&2; }
build btf-pack
rm -f "$SCRATCH/release/btf-run"  # relinked last, so that the map is btf-run's
build btf-run
BIN="$SCRATCH/release"

clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I bpf/include -c bpf/execsnoop.bpf.c -o "$SCRATCH/execsnoop.bpf.o"
if [ -z "${TREE:-}" ]; then
    TREE="$SCRATCH/btfhub"
    rm -rf "$TREE"
    if [ -d "$ARCHIVE" ]; then cp -al "$ARCHIVE" "$TREE"; else cp -a btfhub-fixtures "$TREE"; fi
    . /etc/os-release
    mkdir -p "$TREE/$ID/$VERSION_ID/$(uname -m)"
    cp /sys/kernel/btf/vmlinux "$TREE/$ID/$VERSION_ID/$(uname -m)/$(uname -r).btf"
fi
"$BIN/btf-pack" runner --object "$SCRATCH/execsnoop.bpf.o" --btfhub "$TREE" -o "$SCRATCH/execsnoop-runner" >&2

python3 - "$MAP" "$SCRATCH/execsnoop-runner" "$BIN/btf-run" "$LIMIT" <<'PY'
import re, subprocess, sys
map_path, runner, btf_run, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def component(path):
    name = path.rsplit("/", 1)[-1]
    library = name.split("(", 1)[0]
    if "/swift_static/" in path:
        if re.match(r"lib(swift)?_?(StringProcessing|RegexParser|RegexBuilder)", library): return "Swift regex libraries"
        if "Foundation" in library: return "Foundation (Essentials, via swift-argument-parser)"
        if library == "libswiftCore.a": return "Swift runtime: swiftCore"
        if "Concurrency" in library: return "Swift runtime: _Concurrency"
        if library in ("libdispatch.a", "libBlocksRuntime.a", "libswiftDispatch.a"): return "Swift runtime: dispatch"
        return "Swift runtime: other (Synchronization, Glibc shims ...)"
    if "/ArgumentParser" in path: return "swift-argument-parser"
    if library in ("libbpf.a", "libelf.a"): return "libbpf + libelf"
    if library in ("liblzma.a", "libz.a", "libzstd.a"): return "compression (liblzma, zlib)"
    if re.search(r"/(BTF|DWARF|CORE|Archive|BTFRuntime|BPFLoader|CommandSupport|btf_run)\.build/", path): return "BTFKit code (BTF, DWARF, CORE, Archive, BTFRuntime, BPFLoader, CommandSupport, btf-run)"
    if library.startswith(("libc.", "libm", "libpthread", "libdl", "libstdc++", "libgcc", "crt", "libc_nonshared")) or "/gcc/" in path:
        return "C runtime (glibc, libstdc++, libgcc)"
    return "other inputs: " + library

sizes, output, pending = {}, None, False
for line in open(map_path, errors="replace"):
    if line.startswith("Memory map"): output = ""
    if output is None: continue
    if line[:1] not in (" ", "\n", ""):
        output = line.split()[0]
        continue
    # Only sections that take room in the file: not .bss, not debug or symbol tables.
    if output.startswith((".bss", ".tbss", ".debug", ".comment", ".symtab", ".strtab", ".shstrtab")): continue
    tokens = line.split()
    if not tokens: continue
    if tokens[0].startswith(".") and len(tokens) == 1: pending = True; continue
    if tokens[0].startswith("."): tokens = tokens[1:]
    elif not pending: continue
    pending = False
    if len(tokens) >= 3 and tokens[0].startswith("0x") and tokens[1].startswith("0x"):
        sizes[component(tokens[2])] = sizes.get(component(tokens[2]), 0) + int(tokens[1], 16)

def section_sizes(path):
    out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, check=True).stdout
    result = {}
    for match in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        result[match.group(1)] = int(match.group(2), 16)
    return result

import os
total = os.path.getsize(runner)
sections = section_sizes(runner)
rows = sorted(sizes.items(), key=lambda item: -item[1])
rows += [("the object (.btfkit.object)", sections.get(".btfkit.object", 0)), ("the pack (.btfkit.pack)", sections.get(".btfkit.pack", 0))]
accounted = sum(size for _, size in rows)
rows.append(("ELF headers, alignment, linker tables (the rest)", total - accounted))
print(f"execsnoop runner: {runner}")
print(f"{'component':<70} {'bytes':>11} {'MB':>7}")
for name, size in rows:
    print(f"{name:<70} {size:>11,} {size / 1e6:>7.2f}")
print(f"{'total (file size, stripped)':<70} {total:>11,} {total / 1e6:>7.2f}")
print(f"btf-run alone: {os.path.getsize(btf_run):,} bytes; limit {limit:,} bytes: {'ok' if total <= limit else 'OVER'}")
ldd = subprocess.run(["ldd", runner], capture_output=True, text=True)
print("ldd:", (ldd.stdout + ldd.stderr).strip())
sys.exit(0 if total <= limit else 1)
PY
