/* runqlen: run queue length sampled per CPU. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("perf_event")
int runqlen_sample(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___bench *t = (void *)task;
	BENCH_SUBMIT(BPF_CORE_READ(t, se.vruntime) + bpf_core_type_exists(struct cfs_rq) + bpf_core_type_size(struct rq));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
