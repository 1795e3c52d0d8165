/* sigsnoop: signals sent, with sender and target. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/signal/signal_generate")
int sigsnoop_generate(struct trace_event_raw_signal_generate *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BENCH_SUBMIT(BPF_CORE_READ(ctx, sig) + BPF_CORE_READ(ctx, pid) + BPF_CORE_READ(ctx, result) + BPF_CORE_READ(task, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
