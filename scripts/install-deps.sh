#!/usr/bin/env bash
# Installs the Debian packages BTFKit builds and tests with. Safe to re-run; needs root (or sudo).
set -euo pipefail
packages=(libbpf-dev libelf-dev liblzma-dev zlib1g-dev nettle-dev libxxhash-dev bpftool xz-utils zstd lz4 python3 time binutils
          systemtap-sdt-dev iproute2 # sys/sdt.h: the usdt test program; ip, tc: the xdp/tc tests
          xxhash     # xxhsum: KernelCacheTests check the cache's XXH3 checksums against it
          chromium) # chromium: ReportHTMLTests render the coverage page headless; binutils: objcopy makes .ko-like ELF files in SplitBTFTests
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
