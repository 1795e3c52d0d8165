#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets from the project's own fixtures:
#   objects/   bpf/*.bpf.c compiled as the tests compile them
#   btf/       kernels trimmed for those objects (a few KB each: real kernel types, every kind the
#              objects touch), the objects' own .BTF sections
#   btfext/    the objects' .BTF.ext sections
#   elf/       the objects, a trimmed kernel wrapped as an ELF .BTF section, a small executable
#   core/      mode byte 0 + trimmed kernel; mode byte 1 + length + an object's .BTF + trimmed kernel
#   pack/      packs of the trimmed tree in both formats
#
#   fuzz/make-corpus.sh CORPUS_DIR
# Needs btf-trim and btf-pack: BTF_TRIM / BTF_PACK, else built with swift build --scratch-path .build-fuzz.
# Kernels: btfhub-fixtures, plus one kernel per distro of the shared archive when it is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:?usage: make-corpus.sh CORPUS_DIR}
mkdir -p "$corpus"/{objects,btf,btfext,elf,core,pack,dwarf,work}
if [[ -z "${BTF_TRIM:-}" || -z "${BTF_PACK:-}" ]]; then
    swift build --package-path "$root" --scratch-path "$root/.build-fuzz" -c release --product btf-trim >&2
    swift build --package-path "$root" --scratch-path "$root/.build-fuzz" -c release --product btf-pack >&2
    BTF_TRIM=$root/.build-fuzz/release/btf-trim BTF_PACK=$root/.build-fuzz/release/btf-pack
fi

objects=()
for source in "$root"/bpf/*.bpf.c; do
    object=$corpus/objects/$(basename "${source%.c}").o
    clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I "$root/bpf/include" -c "$source" -o "$object"
    objects+=("$object")
    name=$(basename "$object" .o)
    llvm-objcopy --dump-section ".BTF=$corpus/btf/object-$name.btf" "$object" /dev/null
    llvm-objcopy --dump-section ".BTF.ext=$corpus/btfext/object-$name.btf.ext" "$object" /dev/null
    cp "$object" "$corpus/elf/object-$name.o"
done

# DWARF 4 and 5 objects for the DWARF reader (bpf/tools holds the DWARF-only event types).
for source in "$root"/bpf/*.bpf.c "$root"/bpf/tools/*.bpf.c; do
    for version in 4 5; do
        clang -gdwarf-$version -O2 -target bpf -D__TARGET_ARCH_x86 -I "$root/bpf/include" -c "$source" \
            -o "$corpus/dwarf/$(basename "${source%.bpf.c}")-dwarf$version.o"
    done
done

# A small btfhub tree: the fixtures, plus the first kernel of each distro in the shared archive.
tree=$corpus/work/tree
rm -rf "$tree" "$corpus/work/trimmed" && mkdir -p "$tree"
copy_into_tree() { mkdir -p "$tree/$(dirname "$2")" && cp "$1/$2" "$tree/$2"; }
while IFS= read -r kernel; do copy_into_tree "$root/btfhub-fixtures" "$kernel"; done \
    < <(cd "$root/btfhub-fixtures" && find . -name '*.btf.tar.xz' -not -path './byteswapped/*')
shared=${BTFKIT_SHARED_ARCHIVE:-/work/shared/btfhub-archive}
if [[ -d $shared ]]; then
    for distro in "$shared"/*/; do
        first=$(find "$distro" -name '*.btf.tar.xz' | sort | head -1)
        if [[ -n $first ]]; then copy_into_tree "$shared" "${first#"$shared"/}"; fi
    done
fi
"$BTF_TRIM" "${objects[@]}" "$tree" -o "$corpus/work/trimmed" >&2
# The big-endian fixture, trimmed alone, so that the byte-swapped reading paths are seeded too.
for bigEndian in "$root"/btfhub-fixtures/byteswapped/*/*/*/*.btf.tar.xz; do
    "$BTF_TRIM" "${objects[@]}" "$bigEndian" -o "$corpus/btf/big-endian-$(basename "$bigEndian" .tar.xz)" >&2
done

n=0
while IFS= read -r trimmed; do
    n=$((n + 1))
    cp "$trimmed" "$corpus/btf/trimmed-$n.btf"
done < <(find "$corpus/work/trimmed" -name '*.btf' | sort)

# ELF: a trimmed kernel as the .BTF section of an object (as a vmlinux carries it).
first_trimmed=$(ls "$corpus"/btf/trimmed-*.btf | head -1)
llvm-objcopy --add-section ".BTF=$first_trimmed" "${objects[0]}" "$corpus/elf/object-with-kernel-btf.o" 2>/dev/null \
    || llvm-objcopy --update-section ".BTF=$first_trimmed" "${objects[0]}" "$corpus/elf/object-with-kernel-btf.o"
cp /bin/true "$corpus/elf/executable-true"

# CO-RE: mode 0 (target only), mode 1 (local from an object's .BTF + target).
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
i=0
for kernel in "$corpus"/btf/trimmed-*.btf "$corpus"/btf/big-endian-*; do
    { printf '\x00'; cat "$kernel"; } > "$corpus/core/target-$(basename "$kernel")"
    objectIndex=0
    for local in "$corpus"/btf/object-*.btf; do
        mode=$((1 | (objectIndex << 1)))
        { printf "\\x$(printf %02x $mode)"; le32 "$(stat -c %s "$local")"; cat "$local"; cat "$kernel"; } \
            > "$corpus/core/pair-$i-$objectIndex"
        objectIndex=$((objectIndex + 1))
    done
    i=$((i + 1))
done

"$BTF_PACK" pack "$corpus/work/trimmed" -o "$corpus/work/trimmed.tar.xz" >&2
"$BTF_PACK" pack "$corpus/work/trimmed" -o "$corpus/work/trimmed.tar.gz" --format tar.gz >&2
# A one-kernel pack, and one with a second kernel identical to the first (a hard link): small
# enough for the fuzzer to mutate usefully.
one=$corpus/work/one && rm -rf "$one" && mkdir -p "$one/ubuntu/20.04/x86_64"
cp "$first_trimmed" "$one/ubuntu/20.04/x86_64/5.4.0-1-generic.btf"
"$BTF_PACK" pack "$one" -o "$corpus/work/one.tar.xz" >&2
"$BTF_PACK" pack "$one" -o "$corpus/work/one.tar.gz" --format tar.gz >&2
cp "$first_trimmed" "$one/ubuntu/20.04/x86_64/5.4.0-2-generic.btf"
"$BTF_PACK" pack "$one" -o "$corpus/work/linked.tar.xz" >&2
# Pack seeds: mode byte 0 + the pack as stored; mode byte 1 + the bare tar (the target gzips it).
for pack in "$corpus"/work/{trimmed,one,linked}.tar.xz "$corpus"/work/{trimmed,one}.tar.gz; do
    name=$(basename "$pack")
    { printf '\x00'; cat "$pack"; } > "$corpus/pack/stored-$name"
    case $pack in
        *.xz) { printf '\x01'; xz -dc "$pack"; } > "$corpus/pack/tar-${name%.xz}" ;;
        *.gz) { printf '\x01'; gzip -dc "$pack"; } > "$corpus/pack/tar-${name%.gz}" ;;
    esac
done

for dir in btf btfext elf core pack dwarf; do
    echo "corpus $dir: $(ls "$corpus/$dir" | wc -l) files, $(du -sh "$corpus/$dir" | cut -f1)" >&2
done
# The objects the CO-RE target resolves (BTFKIT_FUZZ_OBJECTS for fuzz-core).
printf '%s\n' "${objects[@]}" > "$corpus/objects/list"
