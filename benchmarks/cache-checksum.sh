#!/usr/bin/env bash
# The kernel cache's entry checksum: candidates timed over the raw BTF of every kernel of a btfhub
# tree (538 MB for the 85 kernels of ../shared/btfhub-archive), each entry mapped read-only as a
# cache hit maps it. CPU time per candidate, best of ROUNDS, so that a busy machine skews it less.
#   zlib crc32        the checksum of cache format BTFKITC1
#   XXH3_64bits       format BTFKITC2's (xxhash.h header-only, built as Sources/CXXHash builds it:
#                     no -march, so SSE2 on x86-64)
#   XXH64             xxHash's older 64-bit hash
#   XXH3_64bits AVX2  the same hash built with -mavx2, for reference (the cache does not assume AVX2)
# Usage: benchmarks/cache-checksum.sh [BTFHUB_TREE]   Environment: ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${1:-${BTFKIT_SHARED_ARCHIVE:-../shared/btfhub-archive}}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/kernels"
i=0
while IFS= read -r archive; do
    i=$((i + 1))
    xz -dc "$archive" | tar -xO > "$work/kernels/$i.btf"
done < <(find "$TREE" -name '*.btf.tar.xz' | sort)
cat > "$work/sums.c" <<'C'
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static unsigned long long sum(int which, const unsigned char *p, size_t n) {
    switch (which) {
    case 0: return crc32_z(0, p, n);
    case 1: return XXH3_64bits(p, n);
    default: return XXH64(p, n, 0);
    }
}
int main(int argc, char **argv) {
    int which = atoi(argv[1]), rounds = atoi(argv[2]);
    double best = 1e9; size_t total = 0; unsigned long long sink = 0;
    for (int r = 0; r < rounds; r++) {
        double spent = 0; total = 0;
        for (int a = 3; a < argc; a++) {
            int fd = open(argv[a], O_RDONLY); struct stat st; fstat(fd, &st);
            const unsigned char *p = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
            close(fd);
            double start = cpu(); sink += sum(which, p, st.st_size); spent += cpu() - start;
            total += st.st_size; munmap((void *)p, st.st_size);
        }
        if (spent < best) best = spent;
    }
    printf("%10zu bytes  %6.3f s CPU  %5.1f GB/s  (%llx)\n", total, best, total / best / 1e9, sink);
    return 0;
}
C
cc -O2 "$work/sums.c" -o "$work/sums" -lz
cc -O2 -mavx2 "$work/sums.c" -o "$work/sums-avx2" -lz
printf '%-18s' "zlib crc32";       "$work/sums" 0 "$ROUNDS" "$work"/kernels/*.btf
printf '%-18s' "XXH3_64bits";      "$work/sums" 1 "$ROUNDS" "$work"/kernels/*.btf
printf '%-18s' "XXH64";            "$work/sums" 2 "$ROUNDS" "$work"/kernels/*.btf
printf '%-18s' "XXH3_64bits AVX2"; "$work/sums-avx2" 1 "$ROUNDS" "$work"/kernels/*.btf
