/* mountsnoop: mount calls with the mount namespace. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/__x64_sys_mount")
int BPF_KPROBE(mountsnoop_mount)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___bench *t = (void *)task;
	unsigned int inum = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	BENCH_SUBMIT(inum + BPF_CORE_READ(task, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
