/* wakeuptime: who woke a blocked task, and after how long. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeuptime_wakeup, struct task_struct *p)
{
	struct task_struct *waker = (struct task_struct *)bpf_get_current_task();
	BENCH_SUBMIT(BPF_CORE_READ(p, pid) + BPF_CORE_READ(waker, pid) + BPF_CORE_READ(p, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
