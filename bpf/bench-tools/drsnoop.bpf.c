/* drsnoop: direct reclaim latency with the task's memory size. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_begin")
int drsnoop_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct___bench *mm = (void *)BPF_CORE_READ(task, mm);
	BENCH_SUBMIT(BPF_CORE_READ(ctx, order) + BPF_CORE_READ(mm, hiwater_rss) + BPF_CORE_READ(task, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
