/* fsslower: slow file system operations with the file name. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/ext4_file_write_iter")
int BPF_KPROBE(fsslower_write, struct kiocb *iocb)
{
	struct file *fp = BPF_CORE_READ(iocb, ki_filp);
	const unsigned char *name = BPF_CORE_READ(fp, f_path.dentry, d_name.name);
	char buf[32];
	bpf_probe_read_kernel_str(buf, sizeof(buf), name);
	BENCH_SUBMIT(BPF_CORE_READ(iocb, ki_pos) + buf[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
