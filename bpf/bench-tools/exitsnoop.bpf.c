/* exitsnoop: process exits with age, exit code and signal. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/sched/sched_process_exit")
int exitsnoop_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___bench *t = (void *)task;
	__u64 start = BPF_CORE_READ(t, start_time);
	int code = BPF_CORE_READ(task, exit_code);
	int sig = BPF_CORE_READ(t, exit_signal);
	BENCH_SUBMIT(start + code + sig + BPF_CORE_READ(task, real_parent, tgid) + BPF_CORE_READ(ctx, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
