/* runqlat: run queue latency per cgroup and pid namespace. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runqlat_wakeup, struct task_struct *p)
{
	struct task_struct___bench *t = (void *)p;
	__u64 cgid = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
	BENCH_SUBMIT(cgid + BPF_CORE_READ(p, pid) + BPF_CORE_READ(p, tgid));
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runqlat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	BENCH_SUBMIT(BPF_CORE_READ(prev, __state) + BPF_CORE_READ(next, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
