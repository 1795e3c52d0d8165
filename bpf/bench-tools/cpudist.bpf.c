/* cpudist: on-CPU time per task from sched_switch. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/sched_switch")
int BPF_PROG(cpudist_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	unsigned int state = BPF_CORE_READ(prev, __state);
	struct task_struct___bench *p = (void *)prev;
	__u64 runtime = BPF_CORE_READ(p, se.sum_exec_runtime);
	BENCH_SUBMIT(runtime + state + BPF_CORE_READ(next, pid) + BPF_CORE_READ(prev, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
