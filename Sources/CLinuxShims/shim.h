/* Linux calls that Swift's Glibc module does not import. Header-only: static inline wrappers. */
#ifndef BTFKIT_LINUX_SHIMS_H
#define BTFKIT_LINUX_SHIMS_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mman.h>

/* memfd_create(2), linked directly so that it also works in fully static executables (where a
 * dlsym lookup finds nothing). Returns -1 with errno set (ENOSYS on kernels before 3.17). */
static inline int btfkit_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}
#endif
