/* vfsstat: VFS call counts. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/vfs_open")
int BPF_KPROBE(vfsstat_open, struct path *path, struct file *file)
{
	BENCH_SUBMIT(BPF_CORE_READ(path, dentry, d_name.len) + BPF_CORE_READ(file, f_flags));
	return 0;
}

SEC("kprobe/vfs_fsync")
int BPF_KPROBE(vfsstat_fsync, struct file *file)
{
	BENCH_SUBMIT(BPF_CORE_READ(file, f_path.dentry, d_name.hash));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
