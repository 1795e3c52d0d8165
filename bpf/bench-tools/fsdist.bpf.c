/* fsdist: file system operation latency per file system type. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("fentry/vfs_read")
int BPF_PROG(fsdist_read, struct file *file)
{
	struct dentry___bench *dentry = (void *)BPF_CORE_READ(file, f_path.dentry);
	struct super_block *sb = BPF_CORE_READ(dentry, d_sb);
	BENCH_SUBMIT(BPF_CORE_READ(sb, s_magic) + BPF_CORE_READ(sb, s_dev) + (__u64)BPF_CORE_READ(sb, s_type, name));
	return 0;
}

SEC("kprobe/ext4_file_read_iter")
int BPF_KPROBE(fsdist_ext4, struct kiocb *iocb)
{
	struct file *fp = BPF_CORE_READ(iocb, ki_filp);
	BENCH_SUBMIT(BPF_CORE_READ(iocb, ki_pos) + BPF_CORE_READ(fp, f_flags));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
