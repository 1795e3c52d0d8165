/* runqslower: tasks that waited long on the run queue. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/sched_switch")
int BPF_PROG(runqslower_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	char comm[16];
	BPF_CORE_READ_STR_INTO(&comm, next, comm);
	BENCH_SUBMIT(BPF_CORE_READ(prev, pid) + BPF_CORE_READ(next, pid) + BPF_CORE_READ(prev, __state) + comm[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
