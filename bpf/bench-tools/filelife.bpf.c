/* filelife: how long files live, from create to unlink. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/vfs_create")
int BPF_KPROBE(filelife_create, void *arg0, struct inode *dir, struct dentry *dentry)
{
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	char buf[32];
	bpf_probe_read_kernel_str(buf, sizeof(buf), name);
	BENCH_SUBMIT(BPF_CORE_READ(dir, i_ino) + buf[0]);
	return 0;
}

SEC("kprobe/vfs_unlink")
int BPF_KPROBE(filelife_unlink, void *arg0, struct inode *dir, struct dentry *dentry)
{
	BENCH_SUBMIT(BPF_CORE_READ(dentry, d_name.len) + BPF_CORE_READ(dir, i_size));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
