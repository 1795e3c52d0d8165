#!/usr/bin/env bash
# Regenerates btfhub-fixtures/: real kernel BTF carved out of Debian linux-image packages, stored in
# btfhub layout (<distro>/<version>/<arch>/<uname -r>.btf.tar.xz, each tarball holding just the .btf),
# plus one big-endian copy written by our own btf-dump, plus the split BTF of a few kernel modules
# (the .BTF section of their .ko, split against that kernel's vmlinux BTF) in a directory beside
# the kernel: <distro>/<version>/<arch>/<uname -r>.modules/<module>.btf.tar.xz.
#
# Usage: scripts/make-fixtures.sh [--force]
#   --force   rebuild every fixture even if a valid one is already there.
# Environment:
#   DEBIAN_MIRROR   Debian archive to download from (default http://deb.debian.org/debian). When a
#                   pinned version has left the mirror, point this at a snapshot, e.g.
#                   http://snapshot.debian.org/archive/debian/20260710T000000Z
#   SECURITY_MIRROR Debian security archive (default http://deb.debian.org/debian-security).
#
# Needs root only to apt-get install missing tools (python3, bpftool, xz-utils, zstd, lz4). It never
# changes the system's apt sources: package indexes live in a private temporary apt state directory.
# Output is byte-for-byte reproducible (sorted tar, fixed owner and mtime, xz -9e), so a re-run leaves
# git clean.
set -euo pipefail

die() { echo "make-fixtures: error: $*" >&2; exit 1; }
note() { echo "make-fixtures: $*" >&2; }

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/btfhub-fixtures"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# The kernels: distro, version, btfhub arch, Debian arch, package, exact version, where it comes from.
# The package name is linux-image-<uname -r>, so the output name is known before downloading.
KERNELS=(
    "debian 12 x86_64 amd64 linux-image-6.1.0-50-cloud-amd64 6.1.176-1 bookworm"
    "debian 12 x86_64 amd64 linux-image-6.12.95+deb12-cloud-amd64 6.12.95-1~bpo12+1 bookworm-backports"
    "debian 12 arm64 arm64 linux-image-6.1.0-50-cloud-arm64 6.1.176-1 bookworm"
)
# Modules whose BTF is carved from the same packages: kernel (as above), then module paths below
# /lib/modules/<uname -r>/. Netfilter, a file system and a network driver; small on purpose.
MODULES=(
    "debian/12/x86_64/6.1.0-50-cloud-amd64 kernel/net/netfilter/nf_conntrack.ko kernel/fs/xfs/xfs.ko kernel/drivers/net/virtio_net.ko"
)
# The kernel rewritten in big-endian byte order (the smallest of the above) and where it goes.
BYTESWAP_SOURCE="debian/12/x86_64/6.1.0-50-cloud-amd64"
BYTESWAP_TARGET="byteswapped/debian/12/x86_64/6.1.0-50-cloud-amd64.big-endian"

# ---- tools -----------------------------------------------------------------------------------

need_packages=()
command -v python3 >/dev/null || need_packages+=(python3)
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need_packages+=(bpftool)
command -v xz >/dev/null || need_packages+=(xz-utils)
command -v zstd >/dev/null || need_packages+=(zstd)
command -v lz4 >/dev/null || need_packages+=(lz4)
command -v dpkg-deb >/dev/null || need_packages+=(dpkg)
command -v objcopy >/dev/null || need_packages+=(binutils)
if [ ${#need_packages[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing tools (${need_packages[*]}); run as root or install them: apt-get install ${need_packages[*]}"
    note "installing ${need_packages[*]}"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null \
        || die "apt-get install ${need_packages[*]} failed"
fi
BPFTOOL="$(command -v bpftool || echo /usr/sbin/bpftool)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/make-fixtures.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---- helpers ---------------------------------------------------------------------------------

# Writes a reproducible btfhub-style tarball: DIR/NAME.btf -> DEST (NAME.btf.tar.xz holding only NAME.btf).
pack() {
    local dir="$1" name="$2" dest="$3"
    mkdir -p "$(dirname "$dest")"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu \
        -C "$dir" -cf - "$name" | xz -9e -T1 -c > "$dest.tmp" || die "packing $dest failed"
    mv "$dest.tmp" "$dest"
}

# Succeeds when ARCHIVE holds exactly NAME and bpftool parses it (as split BTF against the raw BTF
# file BASE, when given).
fixture_is_valid() {
    local archive="$1" name="$2" base="${3:-}" check="$WORK/check"
    [ -f "$archive" ] || return 1
    rm -rf "$check" && mkdir -p "$check"
    [ "$(tar -tJf "$archive" 2>/dev/null)" = "$name" ] || return 1
    tar -xJf "$archive" -C "$check" || return 1
    if [ -n "$base" ]; then
        "$BPFTOOL" btf dump file "$check/$name" -B "$base" >/dev/null 2>&1
    else
        "$BPFTOOL" btf dump file "$check/$name" >/dev/null 2>&1
    fi
}

# The module paths MODULES lists for kernel KEY (distro/version/arch/release), if any.
modules_of() {
    local key="$1" entry
    for entry in "${MODULES[@]}"; do
        read -r kernel paths <<<"$entry"
        [ "$kernel" = "$key" ] && echo "$paths"
    done
    return 0
}

# Succeeds when every module fixture of kernel KEY is present and valid against the kernel fixture.
modules_are_valid() {
    local key="$1" kernel_archive="$2" release="$3" path name base="$WORK/base"
    local paths; paths="$(modules_of "$key")"
    [ -n "$paths" ] || return 0
    rm -rf "$base" && mkdir -p "$base"
    tar -xJf "$kernel_archive" -C "$base" 2>/dev/null || return 1
    for path in $paths; do
        name="$(basename "$path" .ko).btf"
        fixture_is_valid "$OUT/$key.modules/$name.tar.xz" "$name" "$base/$release.btf" || return 1
    done
}

# Private apt state: the system's sources are left alone; amd64 and arm64 indexes side by side.
APT_DIR="$WORK/apt"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
cat > "$APT_DIR/sources.list" <<EOF
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-backports main
deb $SECURITY_MIRROR bookworm-security main
EOF
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=$APT_DIR/none"
          -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
          -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
          -o "Acquire::Check-Valid-Until=false" -o "APT::Sandbox::User=root")
APT_READY=0
apt_ready() {
    [ "$APT_READY" = 1 ] && return
    note "reading package indexes from $DEBIAN_MIRROR (private apt state in $APT_DIR)"
    apt-get "${APT_OPTS[@]}" -qq update || die "apt-get update against $DEBIAN_MIRROR failed"
    APT_READY=1
}

# Finds the kernel inside a vmlinuz and writes the raw kernel image: an x86 bzImage's payload
# (located through the setup header, then decompressed with the matching tool), an arm64 Image as
# is, or a gzip-compressed Image.
CARVE_PY='
import struct, subprocess, sys

def decompress(blob, what):
    tools = [(b"\xfd7zXZ\x00", ["xz", "-dc", "--single-stream"]), (b"\x28\xb5\x2f\xfd", ["zstd", "-dcq"]),
             (b"\x1f\x8b\x08", ["gzip", "-dc"]), (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
             (b"BZh", ["bzip2", "-dc"]), (b"\x89LZO", ["lzop", "-dc"])]
    for magic, cmd in tools:
        if blob.startswith(magic):
            # Trailing bytes after the stream make some tools exit non-zero; the output is still whole.
            r = subprocess.run(cmd, input=blob, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if not r.stdout:
                message = r.stderr.decode("utf-8", "replace").strip()
                sys.exit(f"{what}: {cmd[0]} produced nothing: {message}")
            return r.stdout
    sys.exit(f"{what}: unknown compression, payload starts with {blob[:8].hex()}")

def kernel_image(data, what):
    if len(data) > 0x250 and data[0x202:0x206] == b"HdrS":           # x86 bzImage
        setup_sects = data[0x1F1] or 4
        payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
        start = (setup_sects + 1) * 512 + payload_offset
        if payload_length == 0 or start + payload_length > len(data):
            sys.exit(f"{what}: bzImage payload {payload_offset}+{payload_length} lies outside the file")
        return decompress(data[start:start + payload_length], what)
    if len(data) > 0x40 and data[0x38:0x3C] == b"ARM\x64":             # arm64 Image
        return data
    if data.startswith(b"\x1f\x8b\x08"):                                # arm64 Image.gz
        return kernel_image(decompress(data, what), what)
    sys.exit(f"{what}: neither an x86 bzImage, an arm64 Image nor gzip")

path, out = sys.argv[1], sys.argv[2]
open(out, "wb").write(kernel_image(open(path, "rb").read(), path))
'

# Finds the one well-formed BTF blob in a raw kernel image and writes exactly
# hdr_len + type_len + str_len bytes of it.
CUT_BTF_PY='
import struct, sys
path, out = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
header = struct.pack("<HBBI", 0xEB9F, 1, 0, 24)   # magic, version 1, flags 0, hdr_len 24
found = []
at = data.find(header)
while at >= 0:
    if at + 24 <= len(data):
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, at + 8)
        end = at + 24 + str_off + str_len
        sane = (type_off == 0 and str_off == type_len and type_len > 0 and 0 < str_len < (1 << 24)
                and type_len % 4 == 0 and end <= len(data))
        strings = data[at + 24 + str_off:end] if sane else b""
        if sane and strings[:1] == b"\0" and strings[-1:] == b"\0":
            found.append((at, end))
    at = data.find(header, at + 1)
if len(found) != 1:
    sys.exit(f"{path}: expected exactly one well-formed BTF blob, found {len(found)} at {[hex(s) for s, _ in found]}")
start, end = found[0]
open(out, "wb").write(data[start:end])
print(f"BTF at offset {start:#x}, {end - start} bytes")
'

# ---- kernels ---------------------------------------------------------------------------------

README_ROWS=()
for entry in "${KERNELS[@]}"; do
    read -r distro version arch debarch package pkgversion suite <<<"$entry"
    release="${package#linux-image-}"
    name="$release.btf"
    dest="$OUT/$distro/$version/$arch/$name.tar.xz"
    README_ROWS+=("| \`$distro/$version/$arch/$name.tar.xz\` | \`$package\` $pkgversion ($debarch, $suite) |")
    key="$distro/$version/$arch/$release"
    for path in $(modules_of "$key"); do
        module="$(basename "$path" .ko)"
        README_ROWS+=("| \`$key.modules/$module.btf.tar.xz\` | \`.BTF\` of \`/lib/modules/$release/$path\` in \`$package\` $pkgversion (split BTF; base: the kernel above) |")
    done
    if [ "$FORCE" = 0 ] && fixture_is_valid "$dest" "$name" && modules_are_valid "$key" "$dest" "$release"; then
        note "$distro/$version/$arch/$name.tar.xz (and its modules) present and valid, skipping"
        continue
    fi
    apt_ready
    dir="$WORK/$release"
    mkdir -p "$dir/deb"
    note "downloading $package=$pkgversion ($debarch)"
    (cd "$dir/deb" && apt-get "${APT_OPTS[@]}" -qq download "$package:$debarch=$pkgversion") \
        || die "cannot download $package:$debarch=$pkgversion from $DEBIAN_MIRROR; it may have left the mirror: set DEBIAN_MIRROR to a snapshot.debian.org URL or update KERNELS in $0"
    deb="$(ls "$dir"/deb/*.deb)"
    dpkg-deb -x "$deb" "$dir/root" || die "dpkg-deb -x $deb failed"
    vmlinuz="$dir/root/boot/vmlinuz-$release"
    [ -f "$vmlinuz" ] || die "$deb holds no boot/vmlinuz-$release"
    python3 -c "$CARVE_PY" "$vmlinuz" "$dir/Image" || die "cannot extract the kernel image from $vmlinuz"
    mkdir -p "$dir/btf"
    python3 -c "$CUT_BTF_PY" "$dir/Image" "$dir/btf/$name" >&2 || die "cannot find BTF in the kernel of $package"
    "$BPFTOOL" btf dump file "$dir/btf/$name" >/dev/null || die "bpftool rejects the BTF carved from $package"
    pack "$dir/btf" "$name" "$dest"
    fixture_is_valid "$dest" "$name" || die "$dest does not validate after packing"
    note "wrote $distro/$version/$arch/$name.tar.xz ($(stat -c %s "$dest") bytes)"
    # Module BTF: the .BTF section as it is in the .ko (split BTF; ids and strings continue vmlinux's).
    for path in $(modules_of "$key"); do
        module="$(basename "$path" .ko)"
        ko="$dir/root/lib/modules/$release/$path"
        [ -f "$ko" ] || die "$deb holds no lib/modules/$release/$path"
        mkdir -p "$dir/modules"
        objcopy --dump-section ".BTF=$dir/modules/$module.btf" "$ko" "$dir/scratch.o" \
            || die "cannot take the .BTF section out of $path"
        "$BPFTOOL" btf dump file "$dir/modules/$module.btf" -B "$dir/btf/$name" >/dev/null \
            || die "bpftool rejects the BTF of $path against the kernel's"
        pack "$dir/modules" "$module.btf" "$OUT/$key.modules/$module.btf.tar.xz"
        note "wrote $key.modules/$module.btf.tar.xz ($(stat -c %s "$OUT/$key.modules/$module.btf.tar.xz") bytes)"
    done
    rm -rf "$dir"
done

# ---- big-endian copy, written by our btf-dump --------------------------------------------------

swap_name="$(basename "$BYTESWAP_TARGET").btf"
swap_dest="$OUT/$BYTESWAP_TARGET.btf.tar.xz"
if [ "$FORCE" = 1 ] || ! fixture_is_valid "$swap_dest" "$swap_name"; then
    command -v swift >/dev/null || die "swift is not on PATH (needed to build btf-dump for the byte-swapped fixture)"
    note "building btf-dump (scratch path .build-fixtures)"
    (cd "$ROOT" && swift build -q --scratch-path .build-fixtures --product btf-dump) || die "swift build of btf-dump failed"
    mkdir -p "$WORK/swap/in" "$WORK/swap/out"
    tar -xJf "$OUT/$BYTESWAP_SOURCE.btf.tar.xz" -C "$WORK/swap/in" || die "cannot unpack $BYTESWAP_SOURCE.btf.tar.xz"
    src="$WORK/swap/in/$(basename "$BYTESWAP_SOURCE").btf"
    "$ROOT/.build-fixtures/debug/btf-dump" "$src" -o "$WORK/swap/out/$swap_name" --byte-order big \
        || die "btf-dump could not write the big-endian copy"
    # Same types in the other byte order: bpftool reads both and must print the same text.
    cmp -s <("$BPFTOOL" btf dump file "$src") <("$BPFTOOL" btf dump file "$WORK/swap/out/$swap_name") \
        || die "bpftool prints different types for the big-endian copy of $BYTESWAP_SOURCE"
    [ "$(head -c 2 "$WORK/swap/out/$swap_name" | od -An -tx1 | tr -d ' ')" = "eb9f" ] \
        || die "the byte-swapped copy does not start with big-endian magic eb 9f"
    pack "$WORK/swap/out" "$swap_name" "$swap_dest"
    note "wrote $BYTESWAP_TARGET.btf.tar.xz ($(stat -c %s "$swap_dest") bytes)"
else
    note "$BYTESWAP_TARGET.btf.tar.xz is present and valid, skipping"
fi

# ---- README ------------------------------------------------------------------------------------

{
    echo "# btfhub-fixtures"
    echo
    echo "Real kernel BTF in btfhub layout (\`<distro>/<version>/<arch>/<uname -r>.btf.tar.xz\`, each"
    echo "tarball holding only \`<uname -r>.btf\`), carved out of Debian \`linux-image-*\` packages by"
    echo "\`scripts/make-fixtures.sh\`: the script downloads the .deb, takes \`/boot/vmlinuz-*\`,"
    echo "decompresses the kernel (bzImage payload via the setup header; arm64 Image as is), cuts the one"
    echo "well-formed BTF blob (magic 0xeB9F, version 1, 24-byte header, exactly hdr_len + type_len +"
    echo "str_len bytes) and checks it with \`bpftool btf dump file\`. Re-running it reproduces these"
    echo "files byte for byte."
    echo
    echo "| fixture | source package (arch, suite) |"
    echo "|---|---|"
    printf '%s\n' "${README_ROWS[@]}"
    echo "| \`$BYTESWAP_TARGET.btf.tar.xz\` | \`$BYTESWAP_SOURCE.btf\` rewritten big-endian by \`btf-dump -o OUT --byte-order big\`; bpftool prints the same types for both |"
    echo
    echo "The byte-swapped file is not in btfhub layout on purpose: it is not a kernel anyone runs."
    echo
    echo "Module BTF sits in a directory beside its kernel, \`<distro>/<version>/<arch>/<uname -r>.modules/\`,"
    echo "one \`<module>.btf.tar.xz\` per module holding \`<module>.btf\`: the \`.BTF\` section of the \`.ko\`"
    echo "(taken with \`objcopy --dump-section\`), split BTF whose type ids and string offsets continue the"
    echo "kernel's. Read it with \`btf-dump MODULE.btf --base KERNEL.btf\` (or bpftool's \`-B\`). A btfhub"
    echo "tree walk does not take these files for kernels: the directory above them is not an architecture."
} > "$OUT/README.md"

note "done:"
(cd "$OUT" && find . -name '*.tar.xz' -printf '%s\t%P\n' | sort -k2) >&2
