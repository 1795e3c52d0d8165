/* syscount: system calls per process. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/raw_syscalls/sys_enter")
int syscount_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BENCH_SUBMIT(BPF_CORE_READ(ctx, id) + BPF_CORE_READ(task, tgid));
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int syscount_exit(struct trace_event_raw_sys_exit *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, ret) + BPF_CORE_READ(ctx, id));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
