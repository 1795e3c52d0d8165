/* capable: security capability checks with the task's namespace. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/cap_capable")
int BPF_KPROBE(capable_check, const struct cred *cred, void *ns, int cap, unsigned int opts)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___bench *t = (void *)task;
	unsigned int level = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, level);
	uid_t uid = BPF_CORE_READ(task, cred, uid.val);
	BENCH_SUBMIT(((__u64)cap << 32) + uid + level + BPF_CORE_READ(task, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
