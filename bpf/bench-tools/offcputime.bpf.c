/* offcputime: off-CPU time by stack and task state. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/sched_switch")
int BPF_PROG(offcputime_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_struct___bench *p = (void *)prev;
	__u64 key = BPF_CORE_READ(prev, pid) + BPF_CORE_READ(prev, tgid) + BPF_CORE_READ(p, prio);
	if (bpf_core_field_exists(prev->__state))
		key += BPF_CORE_READ(prev, __state);
	BENCH_SUBMIT(key + BPF_CORE_READ(next, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
