/* XXH3 (xxHash) for the kernel cache's entry checksums, used header-only (XXH_INLINE_ALL): nothing
 * is linked, so neither the static runner nor the fuzz build needs libxxhash. Debian: libxxhash-dev. */
#ifndef BTFKIT_XXHASH_SHIM_H
#define BTFKIT_XXHASH_SHIM_H
#define XXH_INLINE_ALL
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

/* XXH3_64bits (seed 0) of `length` bytes at `data`. */
static inline uint64_t btfkit_xxh3_64(const void *data, size_t length) {
    return XXH3_64bits(data, length);
}
#endif
