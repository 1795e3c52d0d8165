/* filetop: reads and writes per file. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/vfs_read")
int BPF_KPROBE(filetop_read, struct file *file, char *buf, __u64 count)
{
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct inode *inode = BPF_CORE_READ((struct dentry___bench *)dentry, d_inode);
	unsigned int len = BPF_CORE_READ(dentry, d_name.len);
	int mode = BPF_CORE_READ(inode, i_mode);
	BENCH_SUBMIT(count + len + mode + BPF_CORE_READ(file, f_flags));
	return 0;
}

SEC("kprobe/vfs_write")
int BPF_KPROBE(filetop_write, struct file *file, char *buf, __u64 count)
{
	BENCH_SUBMIT(count + BPF_CORE_READ(file, f_path.dentry, d_name.hash));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
