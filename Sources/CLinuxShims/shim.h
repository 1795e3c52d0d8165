/* Linux calls that Swift's Glibc module does not import. Header-only: static inline wrappers. */
#ifndef BTFKIT_LINUX_SHIMS_H
#define BTFKIT_LINUX_SHIMS_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>

/* memfd_create(2), linked directly so that it also works in fully static executables (where a
 * dlsym lookup finds nothing). Returns -1 with errno set (ENOSYS on kernels before 3.17). */
static inline int btfkit_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}
/* Moves the calling thread into a mount namespace of its own whose mounts do not propagate back
 * (unshare(CLONE_NEWNS), then / made recursively private), so that what it mounts is seen by
 * nobody else and goes away with it. Returns 0, or -1 with errno set. */
static inline int btfkit_enter_private_mount_namespace(void) {
    if (unshare(CLONE_NEWNS) != 0) return -1;
    return mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/* perf_event_open(2): glibc has no wrapper and syscall(2) is variadic (Swift cannot call it).
 * Returns the event's fd, or -1 with errno set. */
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
static inline int btfkit_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags) {
    return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

/* glibc's mallopt(3) for a batch of large buffers allocated and freed in turn: no allocation is
 * given its own mapping while a heap can hold it, and freed memory is not given back, so the next
 * buffer reuses pages already faulted in. Returns 1 when glibc took both settings. */
#include <limits.h>
#include <malloc.h>
static inline int btfkit_keep_freed_memory(void) {
    return mallopt(M_MMAP_MAX, 0) && mallopt(M_TRIM_THRESHOLD, INT_MAX);
}
/* __builtin_prefetch: asks for the cache line at `address` ahead of its use (a loop over hundreds
 * of candidate types scattered through a kernel's type section waits on memory, not on work). */
static inline void btfkit_prefetch(const void *address) {
    __builtin_prefetch(address);
}
#endif
