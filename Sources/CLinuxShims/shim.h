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

/* perf_event_open(2): glibc has no wrapper and syscall(2) is variadic (Swift cannot call it).
 * Returns the event's fd, or -1 with errno set. */
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>
static inline int btfkit_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags) {
    return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}
#endif
